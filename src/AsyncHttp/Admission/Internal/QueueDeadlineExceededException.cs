namespace AsyncHttp.Internal;

/// <summary>
/// A queued request reached its <see cref="Deadline.InQueue"/> deadline before a slot came free. Internal: the session turns it
/// into the <see cref="ClientTimeoutException"/> of <see cref="Kind"/>.
/// </summary>
internal sealed class QueueDeadlineExceededException(TimeoutKind kind)
    : Exception($"The {kind} timeout expired while the request waited for a connection slot.")
{
    public TimeoutKind Kind { get; } = kind;
}
