namespace AsyncHttp.Internal;

/// <summary>
/// One host of a connector, across all its sessions: the slots in use (what the connector's
/// <see cref="ConnectorOptions.LimitPerHost"/> bounds), the requests waiting, the open connections, and each session's
/// share of it (its own queue and slots). Every field is guarded by the connector's lock.
/// </summary>
internal sealed class HostState(Connector connector, HostKey key)
{
    /// <summary>The connector the host belongs to: a waiter or a lease reaches it from here, not from a field of its own.</summary>
    public Connector Connector { get; } = connector;

    public HostKey Key { get; } = key;

    /// <summary>Slots in use to this host, all sessions together.</summary>
    public int InUse;

    /// <summary>Requests waiting for this host, all sessions together.</summary>
    public int Waiting;

    public int OpenConnections;

    /// <summary>
    /// Connections to this host in the connector's idle list: back in the transport's pool, unused. A request of the host
    /// granted now takes one of them instead of making a connection, unless a request on its way already will.
    /// </summary>
    public int IdleConnections;

    /// <summary>
    /// A request of the host granted now would find an idle connection: there are more idle connections than slots of
    /// the host on their way to the transport (<see cref="InUse"/> not yet <see cref="Bound"/>).
    /// </summary>
    public bool HasSpareConnection => IdleConnections > InUse - Bound;

    /// <summary>
    /// Until when (a timestamp of the connector's clock) admission to the host is paused, after a <c>Retry-After</c>;
    /// 0 when it is not.
    /// </summary>
    public long PausedUntil;

    /// <summary>
    /// Slots of this host whose hop has written on a connection. While fewer than <see cref="InUse"/>, a request of the
    /// host is on its way to the transport and may be handed any idle connection to it: none of them may be ended then.
    /// </summary>
    public int Bound;

    /// <summary>Connects to this host waiting for room (rare: while a connection is closing, or the Limit is full).</summary>
    public int RoomWaiters;

    /// <summary>The sessions' shares of the host, one per session that has used it: a handful, searched in order.</summary>
    public readonly List<HostShare> Shares = [];

    public bool IsIdle => InUse == 0 && Waiting == 0 && OpenConnections == 0 && RoomWaiters == 0 && PausedUntil == 0;

    /// <summary>The share of <paramref name="member"/>, created on its first request to the host.</summary>
    /// <param name="member">The session.</param>
    /// <param name="created">True when the share was created now.</param>
    public HostShare ShareOf(ConnectorMember member, out bool created)
    {
        created = false;
        foreach (var share in Shares)
        {
            if (ReferenceEquals(share.Member, member))
            {
                return share;
            }
        }

        var added = new HostShare(member, this);
        Shares.Add(added);
        created = true;
        return added;
    }
}
