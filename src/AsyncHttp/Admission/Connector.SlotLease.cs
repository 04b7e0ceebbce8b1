using System.Threading.RateLimiting;
using AsyncHttp.Internal;

namespace AsyncHttp;

public sealed partial class Connector
{
    /// <summary>
    /// A slot of the connector's <see cref="ConnectorOptions.Limit"/>, of its host's
    /// <see cref="ConnectorOptions.LimitPerHost"/> and of the session's own caps, held by one request hop from admission
    /// until release, on the transport that was current when it was granted. Only a lease gives a slot back, and only
    /// once: <see cref="Release"/> is idempotent, as the lease of System.Threading.RateLimiting's
    /// <c>ConcurrencyLimiter</c> is. Nested in <see cref="Connector"/> so that nothing else can give a slot back.
    /// </summary>
    /// <remarks>
    /// Once the hop's response arrives, the lease carries its body: the transport's content, which
    /// <see cref="Release"/> disposes before the slot goes back. The transport closes a connection whose body was not
    /// read to its end in that dispose (it keeps no drain in the background), so a slot is never free while its
    /// connection is still open. The permits of the limiters the request passed (<see cref="AdmissionLimiter"/>) are held
    /// by the lease too, and given back with the slot: the body is closed first, then the permits go back, then the slot.
    /// </remarks>
    internal sealed class SlotLease
    {
        private readonly HostShare _share;
        private readonly TransportGeneration _transport;
        private readonly RateLimitLease?[]? _permits;
        private HttpContent? _body;
        private CountedNetworkStream? _sentOn;
        private int _uses;

        /// <summary>True once the hop wrote on a connection (guarded by the connector).</summary>
        public bool Bound;

        private ILeaseObserver? _observer;
        private int _released;

        public SlotLease(HostShare share, TransportGeneration transport, RateLimitLease?[]? permits = null)
        {
            _share = share;
            _transport = transport;
            _permits = permits;
        }

        /// <summary>The host whose slot this is.</summary>
        public HostKey Key => _share.Host.Key;

        /// <summary>The connector's entry for the host (never swept while a slot of it is in use).</summary>
        public HostState Host => _share.Host;

        /// <summary>
        /// What the hop is sent through: the transport the slot was granted on, kept until the slot goes back even when a
        /// reconfiguration builds a newer one meanwhile.
        /// </summary>
        public HttpMessageInvoker Transport => _transport.Invoker;

        /// <summary>How many limiters' permits the lease holds with its slot.</summary>
        public int Permits => _permits?.Length ?? 0;

        /// <summary>The transport's response content the slot carries, once the response has arrived.</summary>
        public HttpContent? Body => _body;

        public bool IsReleased => Volatile.Read(ref _released) != 0;

        /// <summary>Ties the slot to the response's body: a release disposes it first.</summary>
        public void Carry(HttpContent body) => _body = body;

        /// <summary>
        /// The HTTP/1.x connection the hop went out on: once the body is read (or disposed while the rest of it was in its
        /// buffer), the transport pools it, idle, unless another request has written on it since.
        /// </summary>
        public void SentOn(CountedNetworkStream connection)
        {
            _sentOn = connection;
            _uses = connection.Uses;
        }

        /// <summary>The HTTP/1.x connection the hop went out on, and its uses then (see <see cref="SentOn"/>).</summary>
        public (CountedNetworkStream? Connection, int Uses) Connection => (_sentOn, _uses);

        /// <summary>Who is told when the slot goes back (the request whose final response this is).</summary>
        public void Observe(ILeaseObserver observer)
        {
            _observer = observer;
            if (IsReleased)
            {
                // Released before anyone watched (a response without a body): tell the observer now. It tolerates twice.
                observer.OnReleased(this);
            }
        }

        /// <summary>
        /// Closes the body, if the slot carries one, then gives the slot back to the connector, which hands it to the
        /// waiter its dispatch picks. Harmless after the first call.
        /// </summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0)
            {
                return;
            }

            try
            {
                // After the end of the body this closes nothing: the transport pooled the connection at its last byte.
                _body?.Dispose();
            }
            finally
            {
                try
                {
                    // Before the slot: a waiter the slot goes to may need one of these permits.
                    DisposePermits();
                }
                finally
                {
                    _share.Host.Connector.Return(_share, _transport, this);
                    _observer?.OnReleased(this);
                }
            }
        }

        private void DisposePermits()
        {
            if (_permits is null)
            {
                return;
            }

            // A distributed limiter's lease gives its permit back off this path (AsyncHttp.Extensions.Redis's does).
            foreach (var permit in _permits)
            {
                permit?.Dispose();
            }
        }
    }
}
