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
    /// Slots of this host whose hop has written on a connection. While fewer than <see cref="InUse"/>, a request of the
    /// host is on its way to the transport and may be handed any idle connection to it: none of them may be ended then.
    /// </summary>
    public int Bound;

    /// <summary>Connects to this host waiting for room (rare: while a connection is closing, or the Limit is full).</summary>
    public int RoomWaiters;

    /// <summary>The sessions' shares of the host, one per session that has used it: a handful, searched in order.</summary>
    public readonly List<HostShare> Shares = [];

    public bool IsIdle => InUse == 0 && Waiting == 0 && OpenConnections == 0 && RoomWaiters == 0;

    /// <summary>The share of <paramref name="member"/>, created on its first request to the host.</summary>
    public HostShare ShareOf(ConnectorMember member)
    {
        foreach (var share in Shares)
        {
            if (ReferenceEquals(share.Member, member))
            {
                return share;
            }
        }

        var added = new HostShare(member, this);
        Shares.Add(added);
        return added;
    }
}
