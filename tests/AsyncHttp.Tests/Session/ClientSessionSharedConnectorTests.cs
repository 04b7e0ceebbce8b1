using System.Collections.Concurrent;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Session;

/// <summary>
/// Sessions on one shared <see cref="Connector"/>, against real Kestrel servers that count what reaches them: the
/// connector caps the sum and each session its own share, priorities decide who gets a freed slot, the order rules hold
/// across sessions, connections are shared, and closing one session leaves the others working.
/// </summary>
public sealed class ClientSessionSharedConnectorTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private TestServer _other = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _other = await TestServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _other.DisposeAsync();
    }

    [Fact]
    public async Task Limit_TwoSessionsOf100Requests_NeverMoreThanTheConnectorsLimitAtTheServer_EachWithinItsOwn()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 8 });
        await using var a = new ClientSession("a", connector, Options(limit: 5));
        await using var b = new ClientSession("b", connector, Options(limit: 6));
        var requests = new List<Task<string>>();
        for (var i = 0; i < 100; i++)
        {
            requests.Add(FetchAsync(a, $"hold?id=a{i}&tag=a"));
        }

        for (var i = 0; i < 100; i++)
        {
            requests.Add(FetchAsync(b, $"hold?id=b{i}&tag=b"));
        }

        // a took its own 5 first; b the 3 the connector had left.
        await _server.WhenArrivals(8);
        Assert.Equal((5, 3), (_server.InFlightOf("a"), _server.InFlightOf("b")));
        Assert.Equal((5, 95, 3, 97), (a.Stats.InUse, a.Stats.Waiting, b.Stats.InUse, b.Stats.Waiting));
        Assert.Equal((8, 192), (connector.Stats.InUse, connector.Stats.Waiting));

        for (var i = 0; i < 100; i++)
        {
            _server.Open($"a{i}");
            _server.Open($"b{i}");
        }

        await Task.WhenAll(requests).WaitAsync(TestServer.Patience);
        Assert.Equal(8, _server.MaxInFlight);
        Assert.Equal(5, _server.MaxInFlightOf("a"));
        Assert.InRange(_server.MaxInFlightOf("b"), 3, 6);

        // One pool: the two sessions together never held more connections than the connector's limit.
        Assert.InRange(_server.AcceptedConnections, 1, 8);
        AssertIdle(connector, a, b);
    }

    [Fact]
    public async Task Priority_BulkFillsThePoolWith500Waiting_EachPriorityRequestTakesTheNextFreedSlot()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 4 });
        await using var bulk = new ClientSession("bulk", connector, Options());
        await using var priority = new ClientSession("priority", connector, Options(priority: 10));
        var bulkRequests = Enumerable.Range(0, 504).Select(i => FetchAsync(bulk, $"hold?id=b{i}&tag=bulk")).ToList();
        await _server.WhenArrivals(4);
        Assert.Equal((4, 500), (bulk.Stats.InUse, bulk.Stats.Waiting));
        var bulkOpened = 0;

        for (var i = 0; i < 20; i++)
        {
            var arrived = _server.Arrivals.Count;
            var request = FetchAsync(priority, $"hold?id=p{i}&tag=priority");
            Assert.Equal(1, priority.Stats.Waiting);

            // One bulk request ends: its slot is the next freed one, and it goes to the priority request, not to any
            // of the 500 bulk requests that waited longer.
            _server.Open(_server.Arrivals[bulkOpened++]);
            await _server.WhenArrived($"p{i}");
            Assert.Equal($"p{i}", _server.Arrivals[arrived]);
            Assert.Equal(500 - i, bulk.Stats.Waiting);

            // Its slot back, the oldest bulk waiter takes it.
            _server.Open($"p{i}");
            Assert.Equal($"done:p{i}", await request.WaitAsync(TestServer.Patience));
            await _server.WhenArrivals(arrived + 2);
            Assert.StartsWith("b", _server.Arrivals[arrived + 1], StringComparison.Ordinal);
            while (_server.Arrivals[bulkOpened].StartsWith('p'))
            {
                bulkOpened++;
            }
        }

        Assert.Equal(480, bulk.Stats.Waiting);
        Assert.Equal(4, _server.MaxInFlight);
        for (var i = 0; i < 504; i++)
        {
            _server.Open($"b{i}");
        }

        await Task.WhenAll(bulkRequests).WaitAsync(TestServer.Patience);
        AssertIdle(connector, bulk, priority);
    }

    [Fact]
    public async Task Priority_BulksOwnLimitLeavesRoom_PriorityRequestsNeverQueue()
    {
        // Rule (b): connector 8, bulk's own 6: two slots bulk can never take, so priority never waits for one.
        var queued = new ConcurrentQueue<ClientTraceEvent>();
        var time = new FakeTimeProvider();
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 8 }, time);
        await using var bulk = new ClientSession("bulk", connector, Options(limit: 6));
        await using var priority = new ClientSession("priority", connector, Options(priority: 10), traces: [new ClientTrace { OnConnectionQueuedStart = queued.Enqueue }]);
        var bulkRequests = Enumerable.Range(0, 506).Select(i => FetchAsync(bulk, $"hold?id=b{i}&tag=bulk")).ToList();
        await _server.WhenArrivals(6);
        Assert.Equal((6, 500), (bulk.Stats.InUse, bulk.Stats.Waiting));

        for (var i = 0; i < 20; i++)
        {
            var request = FetchAsync(priority, "ok");
            Assert.Equal(0, priority.Stats.Waiting);
            Assert.Equal("hello", await request.WaitAsync(TestServer.Patience));
        }

        // Two at once take the two slots bulk leaves, while bulk's queue is as deep as before.
        var held = new[] { FetchAsync(priority, "hold?id=p0&tag=priority"), FetchAsync(priority, "hold?id=p1&tag=priority") };
        await _server.WhenArrivals(8);
        Assert.Equal((2, 0, 6, 500), (_server.InFlightOf("priority"), priority.Stats.Waiting, _server.InFlightOf("bulk"), bulk.Stats.Waiting));
        Assert.Empty(queued);

        _server.Open("p0");
        _server.Open("p1");
        await Task.WhenAll(held).WaitAsync(TestServer.Patience);
        for (var i = 0; i < 506; i++)
        {
            _server.Open($"b{i}");
        }

        await Task.WhenAll(bulkRequests).WaitAsync(TestServer.Patience);
        Assert.Empty(queued);
        Assert.Equal(6, _server.MaxInFlightOf("bulk"));
        AssertIdle(connector, bulk, priority);
    }

    [Fact]
    public async Task Priority_BothFlooding_BulkKeepsTheConnectorsLimitLessPrioritysOwn()
    {
        // Rule (c): priority's own Limit of 2 bounds the starvation of bulk: bulk keeps 8 - 2 slots while it waits.
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 8 });
        await using var bulk = new ClientSession("bulk", connector, Options());
        await using var priority = new ClientSession("priority", connector, Options(limit: 2, priority: 10));
        var requests = new List<Task<string>>();
        for (var i = 0; i < 40; i++)
        {
            requests.Add(FetchAsync(priority, $"hold?id=p{i}&tag=priority"));
            requests.Add(FetchAsync(bulk, $"hold?id=b{i}&tag=bulk"));
        }

        await _server.WhenArrivals(8);
        var opened = new HashSet<string>();
        for (var step = 0; step < 50; step++)
        {
            Assert.Equal((2, 6), (_server.InFlightOf("priority"), _server.InFlightOf("bulk")));

            // Whichever ends, priority gets its slot back first when it ends one, and bulk gets bulk's.
            var arrivals = _server.Arrivals;
            var prefix = step % 2 == 0 ? "p" : "b";
            var next = arrivals.First(id => id.StartsWith(prefix, StringComparison.Ordinal) && !opened.Contains(id));
            opened.Add(next);
            _server.Open(next);
            await _server.WhenArrivals(arrivals.Count + 1);
            Assert.StartsWith(prefix, _server.Arrivals[arrivals.Count], StringComparison.Ordinal);
        }

        for (var i = 0; i < 40; i++)
        {
            _server.Open($"p{i}");
            _server.Open($"b{i}");
        }

        await Task.WhenAll(requests).WaitAsync(TestServer.Patience);
        Assert.Equal((2, 8), (_server.MaxInFlightOf("priority"), _server.MaxInFlight));
        AssertIdle(connector, bulk, priority);
    }

    [Fact]
    public async Task Order_OnePriorityTwoSessions_FreedSlotsGoInArrivalOrder()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 1 });
        await using var a = new ClientSession("a", connector, Options());
        await using var b = new ClientSession("b", connector, Options());
        var first = FetchAsync(a, "hold?id=q0");
        await _server.WhenArrivals(1);
        string[] order = ["q1", "q2", "q3", "q4", "q5", "q6"];
        var waiting = order.Select((id, i) => FetchAsync(i % 3 == 0 ? b : a, $"hold?id={id}")).ToList();
        Assert.Equal(6, connector.Stats.Waiting);

        for (var i = 0; i < order.Length; i++)
        {
            _server.Open(i == 0 ? "q0" : order[i - 1]);
            await _server.WhenArrivals(i + 2);
        }

        _server.Open(order[^1]);
        await Task.WhenAll([first, .. waiting]).WaitAsync(TestServer.Patience);
        Assert.Equal(["q0", .. order], _server.Arrivals);
        AssertIdle(connector, a, b);
    }

    [Fact]
    public async Task Order_WaiterHeldByItsHostLimit_DoesNotBlockAnotherSessionsRequestToAnotherHost()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 3, LimitPerHost = 1 });
        await using var a = new ClientSession("a", connector, Options());
        await using var b = new ClientSession("b", connector, Options());
        var held = FetchAsync(a, "hold?id=h0");
        await _server.WhenArrivals(1);

        var blocked = FetchAsync(b, "hold?id=h1");
        var other = FetchAsync(a, _other.Url("hold?id=o0").AbsoluteUri);

        // b's request waits for the first host; a's to the second is not stuck behind it.
        await _other.WhenArrivals(1);
        Assert.Equal((1, 1), (b.Stats.Waiting, _server.Arrivals.Count));
        _other.Open("o0");
        Assert.Equal("done:o0", await other.WaitAsync(TestServer.Patience));
        _server.Open("h0");
        _server.Open("h1");
        await Task.WhenAll(held, blocked).WaitAsync(TestServer.Patience);
        AssertIdle(connector, a, b);
    }

    [Fact]
    public async Task Connections_ASessionReusesAKeptAliveConnectionTheOtherOpened()
    {
        var reused = new ConcurrentQueue<ClientTraceEvent>();
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 4 });
        await using var a = new ClientSession("a", connector, Options());
        await using var b = new ClientSession("b", connector, Options(), traces: [new ClientTrace { OnConnectionReuse = reused.Enqueue }]);

        Assert.Equal("hello", await FetchAsync(a, "ok"));
        Assert.Equal("hello", await FetchAsync(b, "ok"));
        Assert.Equal("hello", await FetchAsync(b, "ok"));

        Assert.Equal(1, _server.AcceptedConnections);
        Assert.Equal(2, reused.Count);
        Assert.All(reused, e => Assert.Equal("b", e.Session));
        Assert.Equal(1, connector.Stats.OpenConnections);
        AssertIdle(connector, a, b);
    }

    [Fact]
    public async Task Close_OneSession_FailsItsOwnRequestsOnly_TheConnectorClosesWithItsOwnerAfterTheLast()
    {
        var connector = new Connector("upstream", new ConnectorOptions { Limit = 1 });
        var a = new ClientSession("a", connector, Options());
        var b = new ClientSession("b", connector, Options());
        var inFlight = FetchAsync(a, "hold?id=a0");
        await _server.WhenArrivals(1);
        var aWaiting = FetchAsync(a, "hold?id=a1");
        var bWaiting = FetchAsync(b, "hold?id=b0");

        await a.DisposeAsync();

        Assert.Equal("a", (await Assert.ThrowsAsync<SessionClosedException>(() => aWaiting)).SessionName);
        Assert.Equal("a", (await Assert.ThrowsAsync<SessionClosedException>(() => inFlight)).SessionName);
        await _server.WhenArrived("b0");
        _server.Open("b0");
        Assert.Equal("done:b0", await bWaiting.WaitAsync(TestServer.Patience));
        Assert.Equal("hello", await FetchAsync(b, "ok"));
        Assert.DoesNotContain(_server.Arrivals, id => id == "a1");
        Assert.Equal(["b"], connector.Stats.Sessions.Select(s => s.Session));

        // A session given a connector does not close it: its connection stays for the next session.
        await b.DisposeAsync();
        Assert.False(connector.IsClosed);
        Assert.Equal(1, connector.Stats.OpenConnections);
        await using (var c = new ClientSession("c", connector, Options()))
        {
            Assert.Equal("hello", await FetchAsync(c, "ok"));
        }

        // Whoever created it closes it, after the last session: then every connection is closed at the server.
        await connector.DisposeAsync();
        await _server.WhenNoOpenConnections();
        Assert.True(connector.IsClosed);
        var closed = Assert.Throws<ObjectDisposedException>(() => new ClientSession("late", connector, Options()));
        Assert.Contains("Connector 'upstream' is closed", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Close_TheConnectorUnderOpenSessions_FailsTheirRequestsNamingIt()
    {
        var connector = new Connector("upstream", new ConnectorOptions { Limit = 1 });
        await using var a = new ClientSession("a", connector, Options());
        var held = FetchAsync(a, "hold?id=x0");
        await _server.WhenArrivals(1);
        var queued = FetchAsync(a, "hold?id=x1");

        await connector.DisposeAsync();

        var error = await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.Contains("Connector 'upstream'", error.Message, StringComparison.Ordinal);

        // Disposing a transport leaves its busy connections be: the close aborts the requests on them.
        var aborted = await Assert.ThrowsAsync<SessionClosedException>(() => held).WaitAsync(TestServer.Patience);
        Assert.Contains("Connector 'upstream' of session 'a'", aborted.Message, StringComparison.Ordinal);
        var rejected = await Assert.ThrowsAsync<ObjectDisposedException>(() => a.GetAsync(_server.Url("ok")));
        Assert.Contains("Connector 'upstream' is closed", rejected.Message, StringComparison.Ordinal);
        await _server.WhenNoOpenConnections();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Reconfigure_SessionOnASharedConnector_RaisesItsOwnCapForWaitersAlreadyQueued()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 4 });
        await using var bulk = new ClientSession("bulk", connector, Options(limit: 1));
        var requests = Enumerable.Range(0, 3).Select(i => FetchAsync(bulk, $"hold?id=r{i}")).ToList();
        await _server.WhenArrivals(1);
        Assert.Equal(2, bulk.Stats.Waiting);

        bulk.Reconfigure(Options(limit: 3, priority: 4));

        await _server.WhenArrivals(3);
        Assert.Equal((3, 0, 4), (bulk.Stats.InUse, bulk.Stats.Waiting, bulk.Stats.Priority));
        for (var i = 0; i < 3; i++)
        {
            _server.Open($"r{i}");
        }

        await Task.WhenAll(requests).WaitAsync(TestServer.Patience);
        AssertIdle(connector, bulk);
    }

    [Fact]
    public async Task Constructor_SessionOnASharedConnectorSettingAConnectionSetting_FailsNamingSessionAndKey()
    {
        await using var connector = new Connector("upstream");
        var strict = new ClientSessionOptions { KeepAliveTimeout = TimeSpan.FromSeconds(1), DangerousAcceptAnyServerCertificate = false, TransportFactory = _ => new HttpClientHandler() };

        var error = Assert.Throws<ArgumentException>(() => new ClientSession("bulk", connector, strict));

        Assert.Contains("session 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.Contains("KeepAliveTimeout shapes connections", error.Message, StringComparison.Ordinal);
        Assert.Contains("DangerousAcceptAnyServerCertificate shapes connections", error.Message, StringComparison.Ordinal);
        Assert.Contains("TransportFactory shapes connections", error.Message, StringComparison.Ordinal);
        Assert.Contains("connector 'upstream'", error.Message, StringComparison.Ordinal);
        Assert.Empty(connector.Stats.Sessions);

        // The same options, with a connector of its own: as today.
        await using var owner = new ClientSession("bulk", strict);
        Assert.True(owner.Connector.IsOwned);
    }

    [Fact]
    public async Task Constructor_WrongConnectorNameOrClock_FailsNamingTheSession()
    {
        await using var connector = new Connector("upstream", timeProvider: new FakeTimeProvider());

        var other = Assert.Throws<ArgumentException>(() => new ClientSession("bulk", connector, new ClientSessionOptions { Connector = "elsewhere" }));
        var missing = Assert.Throws<ArgumentException>(() => new ClientSession("bulk", new ClientSessionOptions { Connector = "upstream" }));
        var clock = Assert.Throws<ArgumentException>(() => new ClientSession("bulk", connector, null, TimeProvider.System));

        Assert.Contains("Connector names 'elsewhere'", other.Message, StringComparison.Ordinal);
        Assert.Contains("Connector names 'upstream'", missing.Message, StringComparison.Ordinal);
        Assert.Contains("clock of its connector 'upstream'", clock.Message, StringComparison.Ordinal);
        await using var named = new ClientSession("bulk", connector, new ClientSessionOptions { Connector = "UPSTREAM" });
        Assert.Same(connector, named.Connector);
    }

    [Fact]
    public async Task Constructor_MiddlewareFactoryFails_TheSessionLeavesTheSharedConnector()
    {
        await using var connector = new Connector("upstream");

        Assert.Throws<InvalidOperationException>(() => new ClientSession("broken", connector, Options(), middlewares: [() => null!]));

        Assert.Empty(connector.Stats.Sessions);
        await using var session = new ClientSession("working", connector, Options());
        Assert.Equal("hello", await FetchAsync(session, "ok"));
    }

    [Fact]
    public async Task Connector_OwnedByASession_IsClosedAndReconfiguredThroughTheSessionOnly()
    {
        await using var session = new ClientSession("own", new ClientSessionOptions { Limit = 3 });

        var close = await Assert.ThrowsAsync<InvalidOperationException>(() => session.Connector.CloseAsync());
        var reconfigure = Assert.Throws<InvalidOperationException>(() => session.Connector.Reconfigure(new ConnectorOptions()));

        Assert.Contains("session 'own'", close.Message, StringComparison.Ordinal);
        Assert.Contains("Reconfigure on the session", reconfigure.Message, StringComparison.Ordinal);
        Assert.Equal(("own", 3), (session.Connector.Name, session.Connector.Stats.Limit));
        Assert.Equal(("own", 3), (session.Stats.Session, session.Stats.Limit));
        await session.DisposeAsync();
        Assert.True(session.Connector.IsClosed);
    }

    private ClientSessionOptions Options(int? limit = null, int priority = 0)
    {
        var options = new ClientSessionOptions { BaseAddress = _server.BaseAddress, Priority = priority };
        if (limit is { } l)
        {
            options.Limit = l;
        }

        return options;
    }

    private static async Task<string> FetchAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    private static void AssertIdle(Connector connector, params ClientSession[] sessions)
    {
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        Assert.All(sessions, s => Assert.Equal((0, 0), (s.Stats.InUse, s.Stats.Waiting)));
    }
}
