using System.Diagnostics.Metrics;
using AsyncHttp.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncHttp;

/// <summary>
/// A connection pool with limits and a fair wait queue, shared by the sessions that draw on it: a slot of
/// <see cref="ConnectorOptions.Limit"/> and one of the host's <see cref="ConnectorOptions.LimitPerHost"/> for each
/// request, held from admission until the response is released; the transport (<see cref="SocketsHttpHandler"/>) whose
/// connections carry the requests; and every setting that shapes a connection.
/// </summary>
/// <remarks>
/// <para>
/// A <see cref="ClientSession"/> created without a connector owns one, configured from its own options, and closes it
/// when it closes. To share one pool between sessions (aiohttp's <c>connector_owner=False</c>), create a connector and
/// pass it to each session's constructor: a session given a connector never closes it; whoever created it closes it,
/// after the last session using it (<see cref="CloseAsync"/>, or dispose). With the host integration,
/// <c>AddClientConnector</c> does this, and the host closes the connector after its sessions.
/// </para>
/// <para>
/// Each session on a shared connector keeps its own <see cref="ClientSessionOptions.Limit"/>,
/// <see cref="ClientSessionOptions.LimitPerHost"/> and <see cref="ClientSessionOptions.QueueLimit"/> as caps inside the
/// pool, and a <see cref="ClientSessionOptions.Priority"/>. A freed slot goes to the oldest waiter that can use it (its
/// host's limit, its session's caps and the connector's limits allow it) among the sessions of the highest priority
/// that have one. Within a priority, a waiter held back only by its host's or its session's limit never blocks the
/// others, and a new request never overtakes an eligible waiter. There is no preemption. One exception keeps connections
/// with their hosts: while every connection the <see cref="ConnectorOptions.Limit"/> allows is open (idle ones count),
/// a waiter whose host has an idle connection goes before an older one whose host has none, whose grant would close
/// that idle connection to open another; at most 16 grants in a row go ahead of a waiter that way.
/// </para>
/// <para>
/// With HTTP/1.1 a slot is a connection, since a connection carries one request at a time. With HTTP/2 a slot is a
/// request in flight: several may share one connection.
/// </para>
/// </remarks>
public sealed partial class Connector : IAsyncDisposable, IDisposable
{
    private readonly string? _owner;
    private readonly SessionTelemetry _telemetry;
    private readonly Lock _reconfiguring = new();
    private TaskCompletionSource? _closing;

    /// <summary>Creates a connector to share between sessions; the caller closes it, after the sessions.</summary>
    /// <param name="name">The name, shown in logs, metrics, statistics and errors.</param>
    /// <param name="options">The limits and connection settings; the connector takes a copy. <see langword="null"/> takes the defaults.</param>
    /// <param name="timeProvider">
    /// The clock of the queue's deadlines and the DNS cache, <see cref="TimeProvider.System"/> when null. Sessions on the
    /// connector run their timeouts on it too.
    /// </param>
    /// <param name="loggerFactory">Where connection failures without a session to name are logged (category <c>AsyncHttp.Connector.{name}</c>).</param>
    /// <param name="meterFactory">Where the <c>AsyncHttp</c> meter comes from; a process-wide meter when null.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one.</exception>
    public Connector(
        string name,
        ConnectorOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null)
        : this(
            name,
            Checked(options ?? new ConnectorOptions(), name),
            timeProvider ?? TimeProvider.System,
            new SessionTelemetry(name, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger($"AsyncHttp.Connector.{name}"), ClientMetrics.For(meterFactory), []),
            owner: null)
    {
    }

    /// <summary>Creates the connector of one session, or a test's.</summary>
    /// <param name="name">The connector's name.</param>
    /// <param name="options">Checked settings, the connector's own copy.</param>
    /// <param name="time">The clock.</param>
    /// <param name="telemetry">Where a connection without a session to name reports, and the meter.</param>
    /// <param name="owner">The session that owns the connector and alone closes and reconfigures it; null for a shared one.</param>
    internal Connector(string name, ConnectorOptions options, TimeProvider time, SessionTelemetry telemetry, string? owner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _owner = owner;
        Time = time;
        _telemetry = telemetry;
        var settings = TransportSettings.From(options);
        _transport = TransportGeneration.Create(settings, this, time, telemetry);
        _deadlines = new DeadlineLanes(time, ExpireWaiters);
        _limiters = [.. options.Limiters];
        SetLimits(options.Limit, options.LimitPerHost, options.QueueLimit);
        _telemetry.Metrics.Register(this);
        Attach(_limiters);
    }

    /// <summary>A connector for tests of admission alone: limits, no session, the system's defaults otherwise.</summary>
    internal Connector(string name, int limit, int limitPerHost, int queueLimit, TimeProvider? time = null)
        : this(
            name,
            new ConnectorOptions { Limit = limit, LimitPerHost = limitPerHost, QueueLimit = queueLimit },
            time ?? TimeProvider.System,
            new SessionTelemetry(name, NullLogger.Instance, ClientMetrics.For(null), []),
            owner: null)
    {
    }

    /// <summary>The connector's name: for a connector a session owns, the session's name.</summary>
    public string Name { get; }

    /// <summary>True once <see cref="CloseAsync"/> or dispose has begun (for a connector a session owns: the session's close).</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    /// <summary>
    /// A consistent snapshot of the limits, the slots in use, the queue and the open connections, in total, per host,
    /// and per session on the connector.
    /// </summary>
    public ConnectorStats Stats
    {
        get
        {
            lock (_lock)
            {
                var hosts = new List<HostStats>(_hosts.Count);
                foreach (var host in _hosts.Values)
                {
                    if (!host.IsIdle)
                    {
                        hosts.Add(new HostStats(host.Key.ToString(), host.InUse, host.Waiting, host.OpenConnections)
                        {
                            Scheme = host.Key.Scheme,
                            Address = host.Key.Address,
                            Port = host.Key.Port,
                            PausedFor = host.PausedUntil == 0 ? TimeSpan.Zero : Time.GetElapsedTime(Time.GetTimestamp(), host.PausedUntil),
                            Proxy = host.Key.Proxy,
                        });
                    }
                }

                var sessions = new List<SessionStats>(_members.Count);
                foreach (var member in _members)
                {
                    sessions.Add(StatsOf(member));
                }

                return new ConnectorStats(_limit, _limitPerHost, _queueLimit, _inUse, _waiting, _openConnections, hosts)
                {
                    Name = Name,
                    ConnectionsOpened = Volatile.Read(ref _connectionsOpened),
                    OldestWait = OldestWait(member: null),
                    WaitingForPermit = WaitingForPermit(member: null),
                    Sessions = sessions,
                };
            }
        }
    }

    /// <summary>The host entries kept, idle ones included until the sweep past <see cref="HostSweepThreshold"/> (for tests).</summary>
    internal int HostEntries
    {
        get
        {
            lock (_lock)
            {
                return _hosts.Count;
            }
        }
    }

    /// <summary>The clock of the queue's deadlines; the sessions on the connector keep their timeouts on it.</summary>
    internal TimeProvider Time { get; }

    /// <summary>True for the connector a session created for itself, which the session alone closes and reconfigures.</summary>
    internal bool IsOwned => _owner is not null;

    /// <summary>
    /// Applies new settings: new limits apply from the next admission decision, to the requests already waiting too (a
    /// raised limit admits them at once; a lowered one lets the requests in flight finish). A change of a connection
    /// setting, or of a limit (which bounds the connections per server), builds a new transport; the old one is disposed
    /// once the last request using it is released.
    /// </summary>
    /// <param name="options">The new settings; the connector takes a copy.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one, and nothing changes.</exception>
    /// <exception cref="InvalidOperationException">A session owns this connector: reconfigure the session instead.</exception>
    /// <exception cref="ObjectDisposedException">The connector is closed.</exception>
    public void Reconfigure(ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfOwned("reconfigures", "Reconfigure");
        Apply(Checked(options, Name));
    }

    /// <summary>
    /// Closes the connector gracefully: stops admitting (requests of its sessions fail with
    /// <see cref="ObjectDisposedException"/>, queued ones with <see cref="SessionClosedException"/>), lets the requests in
    /// flight finish until <paramref name="cancellationToken"/> is cancelled, then closes every connection, which aborts
    /// what is left. Close the sessions on it first: a session never closes a connector it was given.
    /// </summary>
    /// <param name="cancellationToken">Ends the grace period for requests in flight.</param>
    /// <exception cref="InvalidOperationException">A session owns this connector: close the session instead.</exception>
    public Task CloseAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfOwned("closes", "CloseAsync");
        return CloseCoreAsync(cancellationToken);
    }

    /// <summary>Closes the connector at once: queued requests fail, connections close and requests in flight are aborted.</summary>
    /// <exception cref="InvalidOperationException">A session owns this connector: dispose the session instead.</exception>
    public async ValueTask DisposeAsync()
        => await CloseAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose()
        => CloseAsync(new CancellationToken(canceled: true)).GetAwaiter().GetResult();

    /// <summary>The settings of a connector a session owns changed with the session's: see <see cref="Reconfigure"/>.</summary>
    internal void Apply(ConnectorOptions options)
    {
        // One reconfiguration at a time; a new transport (a handler, a user's factory) is built outside the admission
        // lock, which requests take, and only swapped under it.
        lock (_reconfiguring)
        {
            var settings = TransportSettings.From(options);
            TransportGeneration? built = null;
            TransportGeneration? retired = null;
            if (settings != Volatile.Read(ref _transport).Settings)
            {
                lock (_lock)
                {
                    ThrowIfClosed();
                }

                built = TransportGeneration.Create(settings, this, Time, _telemetry);
            }

            lock (_lock)
            {
                if (_closed)
                {
                    built?.Dispose();
                    ThrowIfClosed();
                }

                if (built is not null)
                {
                    retired = _transport;
                    retired.Retired = true;
                    Volatile.Write(ref _transport, built);
                    if (retired.Active > 0)
                    {
                        // Slots still send through it: the last one to come back disposes it.
                        _retiredTransports.Add(retired);
                        retired = null;
                    }
                }

                SetLimits(options.Limit, options.LimitPerHost, options.QueueLimit);
            }

            // A raised Limit may have let in a waiter that needs a limiter's permit: asked for outside the lock.
            RunDeferred();

            // No slot sends through it: it goes now, outside the lock (disposing closes its idle connections).
            retired?.Dispose();
        }
    }

    /// <summary>Closes the connector; for one a session owns, the session calls this once its own requests are done.</summary>
    internal Task CloseCoreAsync(CancellationToken cancellationToken)
    {
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _closing, closing, null) is { } started)
        {
            return started.Task;
        }

        List<(Waiter Waiter, string Session)> failed;
        lock (_lock)
        {
            failed = CloseQueue();
        }

        foreach (var (waiter, session) in failed)
        {
            waiter.Fail(new SessionClosedException(session, $"Connector '{Name}' of session '{session}' was closed before the request completed."));
        }

        RunDeferred();

        _ = FinishCloseAsync(closing, cancellationToken);
        return closing.Task;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The close's task carries the failure to whoever awaits it.")]
    private async Task FinishCloseAsync(TaskCompletionSource closing, CancellationToken cancellationToken)
    {
        try
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await WhenIdleAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // The grace period is over: closing the transports below aborts what is still in flight.
                }
            }

            List<TransportGeneration> transports;
            List<ConnectorMember> members;
            lock (_lock)
            {
                // A retired transport stays listed: slots still on it count it until they come back, and the last one
                // disposes it again, which does nothing.
                transports = [.. _retiredTransports, _transport];
                members = [.. _members];
            }

            // Disposing a transport closes its idle connections only: the sessions abort what they still have in flight.
            foreach (var member in members)
            {
                member.Abort?.Invoke();
            }

            foreach (var transport in transports)
            {
                transport.Dispose();
            }

            _telemetry.Metrics.Unregister(this);
            Detach(_limiters);
            closing.TrySetResult();
        }
        catch (Exception ex)
        {
            closing.TrySetException(ex);
        }
    }

    private void ThrowIfOwned(string what, string method)
    {
        if (_owner is not null)
        {
            throw new InvalidOperationException(
                $"Connector '{Name}' belongs to session '{_owner}', which {what} it with itself: call {method} on the session, not on its connector.");
        }
    }

    private static ConnectorOptions Checked(ConnectorOptions options, string name)
    {
        var snapshot = options.Clone();
        var errors = snapshot.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid options for connector '{name}': {string.Join(" ", errors)}", nameof(options));
        }

        return snapshot;
    }
}
