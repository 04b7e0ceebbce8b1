using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// Idle connections under the connector's Limit, on the connector itself with real loopback sockets: a connect that
/// the Limit holds back ends the least recently used idle connection, never a busy one, never one a connect does not
/// need, and never one already closed; a raised Limit lets a waiting connect in at once.
/// </summary>
public sealed class ConnectorIdleConnectionsTests : IAsyncDisposable
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);
    private static readonly HostKey C = new("http", "c.test", 80);
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<IDisposable> _sockets = [];

    public ConnectorIdleConnectionsTests() => _listener.Start();

    public ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _listener.Stop();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task ConnectionIdle_WhileAConnectToAnotherHostWaitsForTheLimit_EndsItAndLetsTheConnectIn()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var (a, server) = await OpenAsync(connector, A);
        var toB = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None).AsTask();
        Assert.False(toB.IsCompleted, "A's connection, busy, fills the Limit");

        // Made for a request that ended meanwhile: it goes to the pool unused, and the waiting connect ends it.
        connector.ConnectionIdle(a);

        await toB.WaitAsync(TestServer.Patience);
        Assert.True(a.IsClosed);
        Assert.Equal(0, await server.ReceiveAsync(new byte[16], SocketFlags.None).WaitAsync(TestServer.Patience));
        Assert.Equal(1, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task ReserveConnectionAsync_OlderIdleConnectionBusyAgain_TheNextIdleOneIsEndedNotIt()
    {
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var (older, _) = await OpenAsync(connector, A);
        var (newer, _) = await OpenAsync(connector, A);
        connector.ConnectionIdle(older);
        connector.ConnectionIdle(newer);

        // The least recently used one carries a request again: it leaves the idle list.
        connector.ConnectionBusy(older, lease: null);
        var toB = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None);

        Assert.True(toB.IsCompletedSuccessfully, "an idle connection made room at once");
        Assert.True(newer.IsClosed);
        Assert.False(older.IsClosed, "a busy connection is never ended for room");
        Assert.Equal(2, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task ReserveConnectionAsync_AMiddleIdleConnectionBusyAgain_TheSearchForRoomSkipsIt()
    {
        var connector = new Connector("s", limit: 3, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (first, _) = await OpenAsync(connector, A);
        var (middle, _) = await OpenAsync(connector, B);
        var (last, _) = await OpenAsync(connector, C);
        connector.ConnectionIdle(first);
        connector.ConnectionIdle(middle);
        connector.ConnectionIdle(last);

        // A request of A is on its way to the transport, which may hand it A's idle connection: that one stays. And
        // B's carries a request again: it left the idle list from its middle.
        var toA = await connector.AcquireAsync(session, A, CancellationToken.None);
        connector.ConnectionBusy(middle, lease: null);
        var toD = connector.ReserveConnectionAsync(new HostKey("http", "d.test", 80), perServer: 10, CancellationToken.None);

        Assert.True(toD.IsCompletedSuccessfully);
        Assert.Equal((false, false, true), (first.IsClosed, middle.IsClosed, last.IsClosed));
        toA.Release();
    }

    [Fact]
    public async Task Release_OfAHopOnAConnectionThatWasIdleBefore_ListsItIdleAgain_AndAConnectMayEndIt()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        connector.ConnectionIdle(a);

        // Idle in the pool, then it carries a request, whose release puts it back.
        var lease = await connector.AcquireAsync(session, A, CancellationToken.None);
        connector.ConnectionBusy(a, lease);
        lease.SentOn(a);
        lease.Release();
        var toB = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None);

        Assert.True(toB.IsCompletedSuccessfully, "A's connection, idle again, made room");
        Assert.True(a.IsClosed);
        Assert.Equal(1, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task ReserveConnectionAsync_AWaiterHeldBackByItsServersCapOnly_EndsNoIdleConnection()
    {
        var connector = new Connector("s", limit: 3, limitPerHost: 0, queueLimit: 0);
        var (a, _) = await OpenAsync(connector, A, perServer: 1);
        var (idle, _) = await OpenAsync(connector, B);
        connector.ConnectionIdle(idle);

        // A's server is at its cap; the Limit has room: ending B's idle connection would let nothing in.
        var toA = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).AsTask();

        Assert.False(toA.IsCompleted);
        Assert.False(idle.IsClosed);
        Assert.Equal(2, connector.Stats.OpenConnections);
        a.Dispose();
        await toA.WaitAsync(TestServer.Patience);
        Assert.False(idle.IsClosed);
        Assert.Equal(2, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task Release_OfAHopWhoseConnectionClosedMeanwhile_DoesNotListItIdle_AndTheLimitHolds()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        var lease = await connector.AcquireAsync(session, A, CancellationToken.None);
        connector.ConnectionBusy(a, lease);
        lease.SentOn(a);

        // The server closed the connection (say, Connection: close) before the response was released.
        a.Dispose();
        lease.Release();

        Assert.Equal(0, connector.Stats.OpenConnections);
        Assert.True(connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None).IsCompletedSuccessfully);
        await AssertNextConnectWaitsForTheOpenOneToClose(connector, "one connection is open and the Limit is one: a closed one is no room to make");
    }

    [Fact]
    public async Task ConnectionIdle_ReportedTwice_IsListedOnce_AndEndsForRoomOnce()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var (a, _) = await OpenAsync(connector, A);

        connector.ConnectionIdle(a);
        connector.ConnectionIdle(a);

        Assert.True(connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None).IsCompletedSuccessfully, "A's idle connection made room");
        Assert.True(a.IsClosed);
        await AssertNextConnectWaitsForTheOpenOneToClose(connector, "the one idle connection was ended already: nothing more makes room");
    }

    /// <summary>
    /// Under <c>Limit</c> 1 with B's one connection open: another connect to B waits (<paramref name="because"/>), and
    /// goes once that connection closes.
    /// </summary>
    private static async Task AssertNextConnectWaitsForTheOpenOneToClose(Connector connector, string because)
    {
        var next = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None);
        Assert.False(next.IsCompleted, because);
        Assert.Equal(1, connector.Stats.OpenConnections);
        connector.ConnectionClosed(B);
        await next.AsTask().WaitAsync(TestServer.Patience);
        Assert.Equal(1, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task Release_OfAHopWhoseConnectionTheNextRequestTook_LeavesItBusy()
    {
        // Limit 2, both connections open: A's carries requests, C's is busy outside the slots (a connection being made).
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        await OpenAsync(connector, C);
        var first = await BusyAsync(connector, session, A, a);

        // The first response read, the transport gives its connection to the next request before the first is released.
        var next = await BusyAsync(connector, session, A, a);
        first.Release();
        var toB = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None).AsTask();

        Assert.False(toB.IsCompleted, "A's connection carries the next request: no idle connection to end for room");
        Assert.False(a.IsClosed);
        next.Release();
        await toB.WaitAsync(TestServer.Patience);
        Assert.True(a.IsClosed, "idle once the next request is released, it made room");
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Reconfigure_LimitRaisedWhileAConnectWaitsForRoomAndARequestForASlot_LetsBothInAtOnce()
    {
        // Limit 2, both connections A's and idle, but A's request on its way to the transport may be handed either: none
        // can be ended for room. B's request has the second slot and its connect waits for the Limit; C's request waits
        // for a slot, and then for a permit of the session's limiter, which has one at hand.
        using var limiter = new ConcurrencyLimiter(new() { PermitLimit = 10, QueueLimit = 10 });
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var (first, _) = await OpenAsync(connector, A);
        var (second, _) = await OpenAsync(connector, A);
        connector.ConnectionIdle(first);
        connector.ConnectionIdle(second);
        var onItsWay = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var toB = await connector.AcquireAsync(session, B, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var connectB = connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None);
        var toC = connector.AcquireAsync(session, C, CancellationToken.None);
        Assert.False(connectB.IsCompleted, "A's two connections fill the Limit, and A's request may take either");
        Assert.Equal((2, 1, 2), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.OpenConnections));

        connector.Reconfigure(new ConnectorOptions { Limit = 3 });

        // Nothing was released and nothing closed meanwhile: the reconfiguration alone must let both in.
        Assert.True(connectB.IsCompletedSuccessfully, "the raised Limit has room for B's connection");
        Assert.True(toC.IsCompletedSuccessfully, "the raised Limit has a slot for C's request, and its limiter a permit at hand");
        Assert.Equal((3, 0, 3), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.OpenConnections));
        Assert.False(first.IsClosed || second.IsClosed, "the raised Limit made room: A's idle connections stay");
        (await toC).Release();
        toB.Release();
        onItsWay.Release();
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
        Assert.Equal(10, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task OpenConnectionsByHost_ListsHostsWithOpenConnectionsOnly()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var (a, _) = await OpenAsync(connector, A);
        var (b, _) = await OpenAsync(connector, B);

        b.Dispose();

        Assert.Equal([(A, 1)], connector.OpenConnectionsByHost());
        a.Dispose();
        Assert.Empty(connector.OpenConnectionsByHost());
    }

    [Fact]
    public async Task Release_UnderALimitFullOfConnections_AWaiterWhoseHostHasAnIdleConnectionGoesBeforeOneThatWouldEndIt()
    {
        // Limit 2, one connection to each host, both busy. B's request waits first, then A's: when A's request ends, its
        // connection is idle, and granting B first would end it to open one to B (and A's next request would do the same).
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        var (b, _) = await OpenAsync(connector, B);
        var onA = await BusyAsync(connector, session, A, a);
        var onB = await BusyAsync(connector, session, B, b);
        var toB = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        var toA = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        onA.Release();

        var reused = await toA.WaitAsync(TestServer.Patience);
        Assert.False(toB.IsCompleted, "B's request waits for a connection of B's to come back");
        Assert.False(a.IsClosed, "A's idle connection is kept for A's request");
        connector.ConnectionBusy(a, reused);
        reused.SentOn(a);

        onB.Release();

        var second = await toB.WaitAsync(TestServer.Patience);
        Assert.False(b.IsClosed);
        Assert.Equal((2, 2), (connector.Stats.OpenConnections, connector.Stats.InUse));
        reused.Release();
        second.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Release_AHostPassedOverSixteenTimesInARow_GoesFirst_AndTakesAnIdleConnectionOfAnother()
    {
        // Limit 1: A's connection is the only one. B's request is passed over by A's requests, each reusing A's connection,
        // at most MaxPassOvers times; then B goes first, and the connect it makes ends A's idle connection.
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        var onA = await BusyAsync(connector, session, A, a);
        var toB = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        for (var i = 0; i < Connector.MaxPassOvers; i++)
        {
            var next = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
            onA.Release();
            onA = await next.WaitAsync(TestServer.Patience);
            Assert.False(toB.IsCompleted, $"pass-over {i + 1} of {Connector.MaxPassOvers}");
            connector.ConnectionBusy(a, onA);
            onA.SentOn(a);
        }

        var afterB = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        onA.Release();

        var onB = await toB.WaitAsync(TestServer.Patience);
        Assert.False(afterB.IsCompleted, "A's next request waits behind B's");
        Assert.True(connector.ReserveConnectionAsync(B, perServer: 10, CancellationToken.None).IsCompletedSuccessfully, "A's idle connection made room");
        Assert.True(a.IsClosed);
        onB.Release();
        (await afterB.WaitAsync(TestServer.Patience)).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Release_SeveralWaitersCouldReuseAConnection_TheOldestOfThemGoesFirst()
    {
        // Limit 4 and four connections open: B's is busy, A's and two of C's idle; the slots are held by requests to E.
        // B's request waits first: its grant would end an idle connection. C's and A's requests, which would reuse
        // one, go before it, the older of them first, whatever the order in which their hosts began waiting.
        var connector = new Connector("s", limit: 4, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var e = new HostKey("http", "e.test", 80);
        var (a, _) = await OpenAsync(connector, A);
        var (c, _) = await OpenAsync(connector, C);
        var (c2, _) = await OpenAsync(connector, C);
        var (b, _) = await OpenAsync(connector, B);
        connector.ConnectionIdle(a);
        connector.ConnectionIdle(c);
        connector.ConnectionIdle(c2);
        var onB = await BusyAsync(connector, session, B, b);
        var held = new[]
        {
            await connector.AcquireAsync(session, e, CancellationToken.None),
            await connector.AcquireAsync(session, e, CancellationToken.None),
            await connector.AcquireAsync(session, e, CancellationToken.None),
        };

        // C's host begins waiting first (c0), so it comes before B's in the connector's list of hosts waiting.
        var c0 = connector.AcquireAsync(session, C, CancellationToken.None).AsTask();
        var b1 = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        var c1 = connector.AcquireAsync(session, C, CancellationToken.None).AsTask();
        var a1 = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        held[0].Release();
        var onC = await c0.WaitAsync(TestServer.Patience);
        connector.ConnectionBusy(c, onC);
        onC.SentOn(c);

        held[1].Release();

        var reused = await c1.WaitAsync(TestServer.Patience);
        Assert.Equal(2, connector.Stats.Waiting);
        Assert.False(a1.IsCompleted || b1.IsCompleted, "C's request is the oldest of those that reuse a connection");
        held[2].Release();
        (await a1.WaitAsync(TestServer.Patience)).Release();
        (await b1.WaitAsync(TestServer.Patience)).Release();
        onB.Release();
        reused.Release();
        onC.Release();
        Assert.False(a.IsClosed || b.IsClosed || c.IsClosed || c2.IsClosed);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Release_WithRoomForAnotherConnection_GrantsInArrivalOrder()
    {
        // Limit 3 and two connections open: B's connect needs no room from A, so nobody goes before B's request.
        var connector = new Connector("s", limit: 3, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        var onA = await BusyAsync(connector, session, A, a);
        var onC = await connector.AcquireAsync(session, C, CancellationToken.None);
        var third = await connector.AcquireAsync(session, C, CancellationToken.None);
        var toB = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        var toA = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        onA.Release();

        (await toB.WaitAsync(TestServer.Patience)).Release();
        (await toA.WaitAsync(TestServer.Patience)).Release();
        onC.Release();
        third.Release();
        Assert.False(a.IsClosed);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Release_TheOldestWaitersHostHasAnIdleConnection_GrantsInArrivalOrder()
    {
        // B's own connection is idle: B's request reuses it, so it keeps its place ahead of A's.
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var (a, _) = await OpenAsync(connector, A);
        var (b, _) = await OpenAsync(connector, B);
        var onA = await BusyAsync(connector, session, A, a);
        var onB = await BusyAsync(connector, session, B, b);
        var toB = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        var toA = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        onB.Release();

        var reused = await toB.WaitAsync(TestServer.Patience);
        Assert.False(toA.IsCompleted || a.IsClosed || b.IsClosed);
        onA.Release();
        (await toA.WaitAsync(TestServer.Patience)).Release();
        reused.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    /// <summary>Admits a request of <paramref name="key"/> and sends it on <paramref name="connection"/>.</summary>
    private static async Task<Connector.SlotLease> BusyAsync(Connector connector, ConnectorMember session, HostKey key, CountedNetworkStream connection)
    {
        var lease = await connector.AcquireAsync(session, key, CancellationToken.None);
        connector.ConnectionBusy(connection, lease);
        lease.SentOn(connection);
        return lease;
    }

    /// <summary>Reserves room for a connection to <paramref name="key"/> and makes it, over loopback.</summary>
    private async Task<(CountedNetworkStream Client, Socket Server)> OpenAsync(Connector connector, HostKey key, int perServer = 10)
    {
        await connector.ReserveConnectionAsync(key, perServer, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets.Add(socket);
        await socket.ConnectAsync(_listener.LocalEndpoint);
        var server = await _listener.AcceptSocketAsync();
        _sockets.Add(server);
        var stream = new CountedNetworkStream(socket, connector, key);
        _sockets.Add(stream);
        return (stream, server);
    }
}
