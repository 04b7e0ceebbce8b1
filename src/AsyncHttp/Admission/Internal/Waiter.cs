using System.Threading.Tasks.Sources;

namespace AsyncHttp.Internal;

/// <summary>
/// One request waiting in the connector's queue: a node of its session's queue for its host and the value-task source
/// its caller awaits, completed with the lease of the slot it was granted. One allocation per queued request and none for a
/// request admitted at once.
/// </summary>
internal sealed class Waiter : DeadlineNode, IValueTaskSource<Connector.SlotLease>
{
    private ManualResetValueTaskSourceCore<Connector.SlotLease> _core;
    private CancellationTokenRegistration _registration;

    public Waiter(HostShare share, long sequence)
    {
        Share = share;
        Sequence = sequence;
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>The session's share of the host the request waits for: the queue it is linked in.</summary>
    public HostShare Share { get; }

    /// <summary>
    /// Arrival order across all hosts and sessions of the connector: within a priority, the freed slot goes to the
    /// lowest eligible sequence.
    /// </summary>
    public long Sequence { get; }

    /// <summary>When the request joined the queue (a timestamp of the connector's clock), for the oldest wait in the stats.</summary>
    public long QueuedAt;

    /// <summary>
    /// The permits the waiter holds, one per gate of its share (same index), while it waits for the others or for a
    /// slot; null until it is handed one. They go to its slot's lease when it is granted one.
    /// </summary>
    public System.Threading.RateLimiting.RateLimitLease?[]? Permits;

    public Waiter? Next;

    public Waiter? Prev;

    public short Version => _core.Version;

    public void RegisterCancellation(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((Waiter)state!).OnCanceled(token), this);
        }
    }

    /// <summary>Completes the wait with a slot. Called under the connector's lock, once the waiter is unlinked.</summary>
    public void Grant(Connector.SlotLease lease) => _core.SetResult(lease);

    /// <summary>Fails the wait. Called once the waiter is unlinked.</summary>
    public void Fail(Exception exception) => _core.SetException(exception);

    private void OnCanceled(CancellationToken token)
    {
        // Only a waiter still in the queue is removed; one already granted keeps its lease and its owner releases it.
        if (Share.Host.Connector.TryRemoveWaiter(this))
        {
            Fail(new OperationCanceledException(token));
        }
    }

    public Connector.SlotLease GetResult(short token)
    {
        _registration.Dispose();
        return _core.GetResult(token);
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
