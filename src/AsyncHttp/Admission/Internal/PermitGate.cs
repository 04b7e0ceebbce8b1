using System.Threading.RateLimiting;

namespace AsyncHttp.Internal;

/// <summary>
/// One limiter as a connector's admission sees it: the connector asks it for one permit at a time, for the waiter that
/// would take the next slot, and hands the permit, when it comes, to the best waiter that needs it then (the order
/// rules of the queue: highest priority, then oldest). Every field is guarded by the connector's lock.
/// </summary>
internal sealed class PermitGate(RateLimiter limiter)
{
    public RateLimiter Limiter { get; } = limiter;

    /// <summary>An acquisition is in flight (or about to start): no second one starts until it completes.</summary>
    public bool Pending;

    /// <summary>Cancels the acquisition in flight when no waiter needs its permit any more, or the connector closes.</summary>
    public CancellationTokenSource? Cancellation;
}
