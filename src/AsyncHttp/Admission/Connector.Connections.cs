using AsyncHttp.Internal;

namespace AsyncHttp;

// The connections of the connector's transport, counted per host for every session on it, and bounded: per server by
// the transport's own cap, and in total by the connector's Limit, idle connections included. With HTTP/1.x a connection
// carries one request at a time, so a slot is a connection; with HTTP/2 a slot is a stream, and a connection carries
// several: the room reserved here is for connections, whatever their protocol, and the bound per server is the same,
// since the transport opens an HTTP/2 connection only for a stream that finds no room on the others.
public sealed partial class Connector
{
    // Connects waiting for room, oldest first: per server (a connection to that server still closing) or in total (the
    // connections open to other hosts, idle ones among them, fill the Limit). Guarded by _lock.
    private readonly List<RoomWaiter> _roomWaiters = [];

    // Connections idle in the transport's pool, least recently used first: what a connect to another host may end to
    // make room under the Limit. Guarded by _lock.
    private CountedNetworkStream? _idleHead;
    private CountedNetworkStream? _idleTail;

    // Idle connections ended for a waiting connect, whose close the transport has yet to count.
    private int _endingForRoom;

    // Connections made since the connector was created: with HTTP/2, far fewer than requests.
    private long _connectionsOpened;

    /// <summary>
    /// The connector's transport and its settings: the current generation's (a request keeps the version it started with).
    /// </summary>
    internal TransportSettings TransportSettings => Volatile.Read(ref _transport).Settings;

    /// <summary>The proxy a request to <paramref name="url"/> goes through, as its host key names it; null when none.</summary>
    internal string? ProxyFor(Uri url) => Volatile.Read(ref _transport).Proxies?.RouteFor(url)?.Name;

    /// <summary>A connection was made (its socket connected), to be counted in <see cref="ConnectorStats.ConnectionsOpened"/>.</summary>
    internal void ConnectionOpened() => Interlocked.Increment(ref _connectionsOpened);

    /// <summary>
    /// Counts one more connection to <paramref name="key"/> as open, from before it is made: at once while the server
    /// has fewer than <paramref name="perServer"/> and the connector fewer than its <see cref="ConnectorOptions.Limit"/>,
    /// otherwise once one closes. The transport caps connections per server itself, but it counts one closed before its
    /// socket is: a new connect could start while the old socket is still closing. And it keeps idle connections to one
    /// host while another host needs one: then the least recently used idle connection is ended to make room.
    /// </summary>
    /// <returns>Completes with the room reserved; <see cref="ConnectionClosed"/> gives it back.</returns>
    internal ValueTask ReserveConnectionAsync(HostKey key, int perServer, CancellationToken cancellationToken)
    {
        RoomWaiter waiter;
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            if (_roomWaiters.Count == 0 && HasRoom(host, perServer))
            {
                host.OpenConnections++;
                _openConnections++;
                AssertInvariants();
                return ValueTask.CompletedTask;
            }

            // Behind the connects already waiting (no barging), unless this one fits where they do not.
            waiter = new RoomWaiter(host, perServer);
            _roomWaiters.Add(waiter);
            host.RoomWaiters++;
            CloseVictims(GrantRooms());
        }

        if (cancellationToken.CanBeCanceled)
        {
            // A room granted at the same instant is passed on: see GrantRooms.
            cancellationToken.UnsafeRegister(static (s, token) => ((RoomWaiter)s!).Room.TrySetCanceled(token), waiter);
        }

        return new ValueTask(waiter.Room.Task);
    }

    /// <summary>
    /// A connection closed, or a reserved connect failed (<paramref name="connection"/> null): its room goes to the
    /// oldest connect waiting that it lets in.
    /// </summary>
    internal void ConnectionClosed(HostKey key, CountedNetworkStream? connection = null)
    {
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            host.OpenConnections--;
            _openConnections--;
            if (connection is not null)
            {
                UnlinkIdle(connection);
            }

            CloseVictims(GrantRooms());
        }
    }

    /// <summary>
    /// A connection the transport established for a request that ended meanwhile: it goes to the pool unused, idle.
    /// </summary>
    internal void ConnectionIdle(CountedNetworkStream connection)
    {
        lock (_lock)
        {
            MarkIdle(connection, uses: 0);
            CloseVictims(GrantRooms());
        }
    }

    /// <summary>
    /// A request writes on <paramref name="connection"/> for the first time: the connection is busy and counts one more
    /// use, and the request's slot (<paramref name="lease"/>) is bound to a connection.
    /// </summary>
    internal void ConnectionBusy(CountedNetworkStream connection, SlotLease? lease)
    {
        lock (_lock)
        {
            UnlinkIdle(connection);
            connection.Uses++;
            if (lease is { Bound: false, IsReleased: false })
            {
                lease.Bound = true;
                lease.Host.Bound++;
            }
        }
    }

    /// <summary>The open connections per host, for the connections gauge.</summary>
    internal List<(HostKey Key, int Open)> OpenConnectionsByHost()
    {
        List<(HostKey, int)> hosts = [];
        lock (_lock)
        {
            foreach (var host in _hosts.Values)
            {
                if (host.OpenConnections > 0)
                {
                    hosts.Add((host.Key, host.OpenConnections));
                }
            }
        }

        return hosts;
    }

    /// <summary>
    /// <paramref name="connection"/> is back in the transport's pool, unused, unless a request has written on it since it
    /// had <paramref name="uses"/>. Runs under the lock.
    /// </summary>
    private void MarkIdle(CountedNetworkStream connection, int uses)
    {
        if (connection.IsClosed || connection.IsIdle || connection.EndedForRoom || connection.Uses != uses)
        {
            return;
        }

        connection.IdlePrev = _idleTail;
        if (_idleTail is null)
        {
            _idleHead = connection;
        }
        else
        {
            _idleTail.IdleNext = connection;
        }

        _idleTail = connection;
        connection.IsIdle = true;
        (connection.Host ??= GetOrAddHost(connection.Key)).IdleConnections++;
    }

    /// <summary>Room for one more connection to <paramref name="host"/>: under its server's cap and the connector's Limit.</summary>
    private bool HasRoom(HostState host, int perServer)
        => host.OpenConnections < perServer && (_limit == 0 || _openConnections < _limit);

    /// <summary>
    /// Hands the room there is to the connects waiting, oldest first, skipping one that cannot use it (its server is
    /// full) so that it blocks no other; then chooses idle connections to end for those still held back by the Limit.
    /// Runs under the lock.
    /// </summary>
    private List<CountedNetworkStream>? GrantRooms()
    {
        for (var i = 0; i < _roomWaiters.Count;)
        {
            var waiter = _roomWaiters[i];
            if (waiter.Room.Task.IsCompleted)
            {
                // Cancelled while waiting.
                _roomWaiters.RemoveAt(i);
                waiter.Host.RoomWaiters--;
                continue;
            }

            if (!HasRoom(waiter.Host, waiter.PerServer))
            {
                i++;
                continue;
            }

            _roomWaiters.RemoveAt(i);
            waiter.Host.RoomWaiters--;
            if (waiter.Room.TrySetResult())
            {
                waiter.Host.OpenConnections++;
                _openConnections++;
            }
        }

        AssertInvariants();
        List<CountedNetworkStream>? victims = null;
        while (_endingForRoom < WaitingForTotalRoom() && TakeVictim() is { } victim)
        {
            (victims ??= []).Add(victim);
        }

        return victims;
    }

    /// <summary>
    /// The least recently used idle connection that can be ended safely: one of a host none of whose requests is on its
    /// way to the transport (every slot of the host is bound to a connection already), since the transport may hand any
    /// idle connection of the host to such a request. A later request of the host finds the connection ended when the
    /// transport looks at it, and is given another. Runs under the lock.
    /// </summary>
    private CountedNetworkStream? TakeVictim()
    {
        for (var candidate = _idleHead; candidate is not null; candidate = candidate.IdleNext)
        {
            if (GetOrAddHost(candidate.Key) is { } host && host.InUse == host.Bound)
            {
                UnlinkIdle(candidate);
                candidate.EndedForRoom = true;
                _endingForRoom++;
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The connects held back by the Limit alone (their server has room). Runs under the lock.</summary>
    private int WaitingForTotalRoom()
    {
        // Without a Limit none is counted: every connect still waiting after the grants waits for its server's room.
        var waiting = 0;
        foreach (var waiter in _roomWaiters)
        {
            if (!waiter.Room.Task.IsCompleted && waiter.Host.OpenConnections < waiter.PerServer)
            {
                waiting++;
            }
        }

        return waiting;
    }

    private void UnlinkIdle(CountedNetworkStream connection)
    {
        if (!connection.IsIdle)
        {
            return;
        }

        if (connection.IdlePrev is null)
        {
            _idleHead = connection.IdleNext;
        }
        else
        {
            connection.IdlePrev.IdleNext = connection.IdleNext;
        }

        if (connection.IdleNext is null)
        {
            _idleTail = connection.IdlePrev;
        }
        else
        {
            connection.IdleNext.IdlePrev = connection.IdlePrev;
        }

        connection.IdlePrev = connection.IdleNext = null;
        connection.IsIdle = false;
        connection.Host!.IdleConnections--;
    }

    /// <summary>
    /// Ends the chosen idle connections, under the lock: a request of their host admitted after this finds them ended.
    /// Ending one is a shutdown, a system call that does not block, and counts it closed; the transport disposes its
    /// handle when it next looks at it (its dispose then counts nothing more).
    /// </summary>
    private void CloseVictims(List<CountedNetworkStream>? victims)
    {
        if (victims is null)
        {
            return;
        }

        foreach (var victim in victims)
        {
            victim.EndForRoom();
            var host = GetOrAddHost(victim.Key);
            host.OpenConnections--;
            _openConnections--;
            _endingForRoom--;
        }

        // The room they made goes to the connects waiting for it.
        CloseVictims(GrantRooms());
    }

    /// <summary>A connect waiting for room.</summary>
    private sealed class RoomWaiter(HostState host, int perServer)
    {
        public HostState Host { get; } = host;

        public int PerServer { get; } = perServer;

        public TaskCompletionSource Room { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
