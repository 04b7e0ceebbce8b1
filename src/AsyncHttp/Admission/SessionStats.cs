namespace AsyncHttp;

/// <summary>One session's share of its connector, in a snapshot taken under the connector's lock.</summary>
/// <param name="Session">The session's name.</param>
/// <param name="Priority">The session's priority on the connector (higher first).</param>
/// <param name="Limit">The session's own cap on its requests in flight inside the pool; 0 means none of its own.</param>
/// <param name="LimitPerHost">The session's own cap per host inside the pool; 0 means none of its own.</param>
/// <param name="QueueLimit">The most of the session's requests that may wait; 0 means no bound of its own.</param>
/// <param name="InUse">Slots held by the session's requests, from admission until release.</param>
/// <param name="Waiting">The session's requests waiting in the connector's queue.</param>
public sealed record SessionStats(
    string Session,
    int Priority,
    int Limit,
    int LimitPerHost,
    int QueueLimit,
    int InUse,
    int Waiting)
{
    /// <summary>
    /// How long the session's oldest request in the queue has waited, on the connector's <see cref="TimeProvider"/>;
    /// <see cref="TimeSpan.Zero"/> when none waits.
    /// </summary>
    public TimeSpan OldestWait { get; init; }

    /// <summary>Of <see cref="Waiting"/>, the session's requests queued behind a limiter's permit.</summary>
    public int WaitingForPermit { get; init; }
}
