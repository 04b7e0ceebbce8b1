namespace AsyncHttp.Internal;

/// <summary>
/// The sessions of one priority on a connector, and their shares that have waiters: the dispatch looks at the levels
/// from the highest down and grants the oldest eligible head of the first level that has one. Guarded by the
/// connector's lock.
/// </summary>
internal sealed class PriorityLevel(int priority)
{
    public int Priority { get; } = priority;

    /// <summary>The sessions at this priority; the level goes when the last one leaves it.</summary>
    public int Members;

    /// <summary>The shares of this level's sessions that have waiters, in no order (the head's sequence orders them).</summary>
    public readonly List<HostShare> Waiting = [];
}
