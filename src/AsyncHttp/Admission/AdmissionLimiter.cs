using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// A budget a request must also pass in admission, besides a slot: a <see cref="RateLimiter"/> of
/// System.Threading.RateLimiting for every request of a session or connector (<see cref="Create"/>), or one per host
/// (<see cref="PerHost"/>). Give it to <see cref="ClientSessionOptions.Limiters"/> or <see cref="ConnectorOptions.Limiters"/>.
/// </summary>
/// <remarks>
/// <para>
/// A request holds each permit it took until its response is released, as it holds its slot: a
/// <see cref="ConcurrencyLimiter"/> then bounds the requests in flight; a <see cref="TokenBucketRateLimiter"/> (whose
/// permits do not come back) bounds the requests started per period. A request takes one permit of each limiter it
/// must pass: a <see cref="RateLimiter"/> given to the connector and to a session (or twice to one) is passed once.
/// </para>
/// <para>
/// Waiting for a permit is waiting in the connector's queue: it counts in <see cref="ClientTimeout.Connect"/> and
/// <see cref="ClientTimeout.Total"/>, the caller's token cancels it, <see cref="ConnectorStats.WaitingForPermit"/>
/// shows it, and the queue's order rules hold (priorities, oldest first, no head-of-line blocking across hosts). The
/// connector asks a limiter for a permit only for the request that would take the next slot (a slot is free and its
/// host and session may use it), and it takes the slot only with every permit in hand: a request never holds a slot
/// while it waits for a permit. A limiter whose own queue is full, or that has no queue and no permit, refuses: the
/// request fails with <see cref="RateLimitRejectedException"/>. Give a limiter that should wait a
/// <c>QueueLimit</c> of at least 1: the connector keeps at most one acquisition in flight per limiter and its own queue
/// of requests behind it.
/// </para>
/// <para>
/// The limiters are taken when the session or connector is created; a reconfiguration keeps them. The connector calls
/// <see cref="RateLimiter.AttemptAcquire(int)"/>, which must not block, and <see cref="RateLimiter.AcquireAsync"/>,
/// which may do I/O, never under its lock.
/// </para>
/// </remarks>
public class AdmissionLimiter : IAsyncDisposable, IDisposable
{
    private readonly RateLimiter? _shared;
    private readonly Func<string, RateLimiter>? _perHost;
    private readonly ConcurrentDictionary<HostKey, RateLimiter>? _hosts;
    private readonly bool _ownsLimiters;
    private int _disposed;

    /// <summary>A budget of <paramref name="limiter"/> for every request, whatever its host.</summary>
    /// <param name="limiter">The limiter; disposed with this object when <paramref name="ownsLimiter"/> is true.</param>
    /// <param name="ownsLimiter">Dispose <paramref name="limiter"/> when this object is disposed.</param>
    protected AdmissionLimiter(RateLimiter limiter, bool ownsLimiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _shared = limiter;
        _ownsLimiters = ownsLimiter;
    }

    /// <summary>A budget per host: <paramref name="create"/> makes the limiter of a host on its first request.</summary>
    /// <param name="create">Makes the limiter of one host, given as <c>scheme://host:port</c>; this object owns and disposes them.</param>
    protected AdmissionLimiter(Func<string, RateLimiter> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        _perHost = create;
        _hosts = new ConcurrentDictionary<HostKey, RateLimiter>();
        _ownsLimiters = true;
    }

    /// <summary>True when each host has a budget of its own.</summary>
    public bool IsPerHost => _perHost is not null;

    /// <summary>
    /// One budget for every request of the session or connector that takes it, whatever the host. The caller keeps
    /// ownership of <paramref name="limiter"/>.
    /// </summary>
    /// <param name="limiter">A <see cref="ConcurrencyLimiter"/>, <see cref="TokenBucketRateLimiter"/>, ... (or a distributed one).</param>
    /// <returns>The admission limiter.</returns>
    /// <example><c>o.Limiters.Add(AdmissionLimiter.Create(new ConcurrencyLimiter(new() { PermitLimit = 10, QueueLimit = 1 })));</c></example>
    public static AdmissionLimiter Create(RateLimiter limiter) => new(limiter, ownsLimiter: false);

    /// <summary>
    /// One budget per host (scheme, host and port): <paramref name="create"/> makes a host's limiter on its first
    /// request, and the admission limiter disposes them when it is disposed.
    /// </summary>
    /// <param name="create">Makes the limiter of one host, given as <c>scheme://host:port</c> (an IPv6 address in brackets).</param>
    /// <returns>The admission limiter.</returns>
    /// <example>
    /// <c>o.Limiters.Add(AdmissionLimiter.PerHost(_ =&gt; new TokenBucketRateLimiter(new() { TokenLimit = 5, TokensPerPeriod = 5, ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 1 })));</c>
    /// </example>
    public static AdmissionLimiter PerHost(Func<string, RateLimiter> create) => new(create);

    /// <summary>Disposes the limiters this object owns.</summary>
    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes the limiters this object owns.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>The limiter a request to <paramref name="key"/> must pass.</summary>
    internal RateLimiter For(HostKey key)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _shared ?? _hosts!.GetOrAdd(key, static (k, create) => create(k.ToString()), _perHost!);
    }

    /// <summary>Called when a connector starts admitting through this limiter (a session on it, or the connector itself).</summary>
    /// <param name="connector">The connector.</param>
    protected internal virtual void OnAttached(Connector connector)
    {
    }

    /// <summary>Called when the connector closes, or the session that took this limiter leaves it.</summary>
    /// <param name="connector">The connector.</param>
    protected internal virtual void OnDetached(Connector connector)
    {
    }

    /// <summary>Disposes the limiters this object owns.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0 && _ownsLimiters)
        {
            foreach (var limiter in Owned())
            {
                limiter.Dispose();
            }
        }
    }

    /// <summary>Disposes the limiters this object owns, asynchronously.</summary>
    protected virtual async ValueTask DisposeAsyncCore()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _ownsLimiters)
        {
            foreach (var limiter in Owned())
            {
                await limiter.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private IEnumerable<RateLimiter> Owned() => _shared is not null ? [_shared] : _hosts!.Values;
}
