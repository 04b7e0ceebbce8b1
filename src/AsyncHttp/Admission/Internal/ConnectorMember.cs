namespace AsyncHttp.Internal;

/// <summary>
/// One session on a connector: its own caps inside the pool (<see cref="SessionCaps"/>), what it holds and has waiting,
/// and its priority level. A session that owns its connector is its only member, with the connector's limits as caps.
/// Every field is guarded by the connector's lock.
/// </summary>
internal sealed class ConnectorMember(Connector connector, string sessionName, Action? abort, AdmissionLimiter[] limiters)
{
    public Connector Connector { get; } = connector;

    public string SessionName { get; } = sessionName;

    /// <summary>
    /// Aborts the session's requests in flight, when a shared connector closes under the session after its grace
    /// period: disposing the transport closes only idle connections.
    /// </summary>
    public Action? Abort { get; } = abort;

    /// <summary>The session's own limiters, taken when it joined; empty when it has none.</summary>
    public AdmissionLimiter[] Limiters { get; } = limiters;

    public SessionCaps Caps;

    public PriorityLevel Level = null!;

    public int InUse;

    public int Waiting;

    /// <summary>The session closed: it admits nothing more, and it leaves the connector once its last slot is back.</summary>
    public bool Closed;

    /// <summary>Completed when the member has no slot in use.</summary>
    public TaskCompletionSource? Idle;

    /// <summary>
    /// The share of the last admission: a session mostly calls one host, and comparing its key is cheaper than hashing
    /// it, so an uncontended admission looks nothing up.
    /// </summary>
    public HostShare? LastShare;

    /// <summary>True when the session's own caps let it take one more slot of <paramref name="share"/>'s host.</summary>
    public bool HasRoom(HostShare share)
        => (Caps.Limit == 0 || InUse < Caps.Limit) && (Caps.LimitPerHost == 0 || share.InUse < Caps.LimitPerHost);
}
