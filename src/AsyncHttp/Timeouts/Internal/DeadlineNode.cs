namespace AsyncHttp.Internal;

/// <summary>
/// Something with a deadline kept by <see cref="DeadlineLanes"/>: a request waiting in the connector's queue, or a
/// request in flight whose only timer would be <see cref="ClientTimeout.Total"/>. The fields belong to the lanes and
/// are guarded by their owner's lock.
/// </summary>
internal abstract class DeadlineNode
{
    public long DeadlineAt;

    public DeadlineLanes.Lane? Lane;

    public DeadlineNode? LaneNext;

    public DeadlineNode? LanePrev;
}
