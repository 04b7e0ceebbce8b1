namespace AsyncHttp;

/// <summary>A snapshot of a connector, taken under its lock so the numbers agree with each other.</summary>
/// <param name="Limit">The total limit; 0 means none.</param>
/// <param name="LimitPerHost">The per-host limit; 0 means none.</param>
/// <param name="QueueLimit">The queue limit; 0 means unbounded.</param>
/// <param name="InUse">Slots held by requests, from admission until release, all sessions on the connector together.</param>
/// <param name="Waiting">Requests waiting in the queue, all sessions together.</param>
/// <param name="OpenConnections">
/// TCP connections open in the transport, idle or busy. With HTTP/1.x each carries one request at a time; with HTTP/2
/// several streams share one, so <paramref name="InUse"/> may be many times this.
/// </param>
/// <param name="Hosts">The same numbers for each host that has a slot in use, a waiter or an open connection.</param>
public sealed record ConnectorStats(
    int Limit,
    int LimitPerHost,
    int QueueLimit,
    int InUse,
    int Waiting,
    int OpenConnections,
    IReadOnlyList<HostStats> Hosts)
{
    /// <summary>
    /// How long the oldest request in the queue has waited for a slot, on the connector's <see cref="TimeProvider"/>;
    /// <see cref="TimeSpan.Zero"/> when nothing waits. A wait that keeps growing means slots are not coming back fast
    /// enough for the load, even when the queue is short.
    /// </summary>
    public TimeSpan OldestWait { get; init; }

    /// <summary>
    /// The connections the transport has made since the connector was created (each connected socket, to a host or to a
    /// proxy), all hosts together: with connections kept alive, and with HTTP/2 streams sharing them, far fewer than
    /// requests.
    /// </summary>
    public long ConnectionsOpened { get; init; }

    /// <summary>The connector's name: for the connector a session owns, the session's name.</summary>
    public string Name { get; init; } = "";

    /// <summary>
    /// The same numbers for each session on the connector, with its own caps and priority: one entry for a connector
    /// a session owns. Their <see cref="SessionStats.InUse"/> and <see cref="SessionStats.Waiting"/> add up to the
    /// connector's.
    /// </summary>
    public IReadOnlyList<SessionStats> Sessions { get; init; } = [];
}
