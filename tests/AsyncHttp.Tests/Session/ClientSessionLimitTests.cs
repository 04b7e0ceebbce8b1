using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Session;

/// <summary>The limits and the queue seen from a real server: what reaches it, in which order, and what waits.</summary>
public sealed class ClientSessionLimitTests : IAsyncLifetime
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

    private static async Task<string> FetchAsync(ClientSession session, Uri url, CancellationToken cancellationToken = default)
    {
        await using var response = await session.GetAsync(url, cancellationToken: cancellationToken);
        return await response.ReadAsStringAsync(cancellationToken);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Limit_N_ExactlyNReachTheServerAndTwoNWait(int n)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = n });
        var requests = Enumerable.Range(0, 3 * n).Select(i => FetchAsync(session, _server.Url($"hold?id={n}-{i}"))).ToList();

        await _server.WhenArrivals(n);
        var stats = session.Connector.Stats;
        Assert.Equal(n, stats.InUse);
        Assert.Equal(2 * n, stats.Waiting);
        Assert.Equal(n, _server.Arrivals.Count);

        for (var i = 0; i < 3 * n; i++)
        {
            _server.Open($"{n}-{i}");
        }

        var bodies = await Task.WhenAll(requests).WaitAsync(TestServer.Patience);
        Assert.Equal(3 * n, bodies.Length);
        Assert.Equal(n, _server.MaxInFlight);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task Limit_Zero_AllRequestsArriveAtOnce()
    {
        const int n = 4;
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 0 });
        var requests = Enumerable.Range(0, 3 * n).Select(i => FetchAsync(session, _server.Url($"hold?id=z{i}"))).ToList();

        await _server.WhenArrivals(3 * n);
        Assert.Equal((3 * n, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        for (var i = 0; i < 3 * n; i++)
        {
            _server.Open($"z{i}");
        }

        await Task.WhenAll(requests).WaitAsync(TestServer.Patience);
        Assert.Equal(3 * n, _server.MaxInFlight);
    }

    [Fact]
    public async Task Limit_RequestsAlternatingBetweenTwoHosts_KeepTheirConnections()
    {
        // Limit 2 over two hosts, no per-host limit: one request held on each host, so both connections are open and the
        // Limit is full of them. Each round queues a request to B, then one to A, and lets A's request in flight end.
        // In plain arrival order B's request would take the slot and end A's idle connection to open one to B (and the
        // next round the other way about); a request that reuses its host's idle connection now goes first.
        const int Rounds = 10;
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 2 });
        var onA = FetchAsync(session, _server.Url("hold?id=a0"));
        var onB = FetchAsync(session, _other.Url("hold?id=b0"));
        await _server.WhenArrivals(1);
        await _other.WhenArrivals(1);
        var done = new List<Task<string>>();

        for (var i = 1; i <= Rounds; i++)
        {
            var toB = FetchAsync(session, _other.Url($"hold?id=b{i}"));
            var toA = FetchAsync(session, _server.Url($"hold?id=a{i}"));
            Assert.Equal(2, session.Connector.Stats.Waiting);

            _server.Open($"a{i - 1}");
            await _server.WhenArrivals(i + 1);
            Assert.Equal(i, _other.Arrivals.Count);
            Assert.Equal(1, session.Connector.Stats.Waiting);

            _other.Open($"b{i - 1}");
            await _other.WhenArrivals(i + 1);
            done.AddRange([onA, onB]);
            (onA, onB) = (toA, toB);
        }

        _server.Open($"a{Rounds}");
        _other.Open($"b{Rounds}");
        await Task.WhenAll(done.Append(onA).Append(onB)).WaitAsync(TestServer.Patience);

        var stats = session.Connector.Stats;
        Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
        Assert.True(stats.OpenConnections <= 2, $"{stats.OpenConnections} connections open");
        Assert.Equal(2, stats.ConnectionsOpened);
        Assert.Equal((1, 1), (_server.AcceptedConnections, _other.AcceptedConnections));
    }

    [Fact]
    public async Task LimitPerHost_TwoServers_NeitherExceedsItAndTheOtherHostIsNotBlocked()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 10, LimitPerHost = 2 });
        var toA = Enumerable.Range(0, 6).Select(i => FetchAsync(session, _server.Url($"hold?id=a{i}"))).ToList();
        await _server.WhenArrivals(2);

        // Host A has four waiters held back by its per-host limit; host B's requests go through regardless.
        var toB = Enumerable.Range(0, 2).Select(i => FetchAsync(session, _other.Url($"hold?id=b{i}"))).ToList();
        await _other.WhenArrivals(2);
        var stats = session.Connector.Stats;
        Assert.Equal((4, 4), (stats.InUse, stats.Waiting));
        Assert.Contains(stats.Hosts, h => h.Host.EndsWith($":{_server.BaseAddress.Port}", StringComparison.Ordinal) && h.InUse == 2 && h.Waiting == 4);
        Assert.Contains(stats.Hosts, h => h.Host.EndsWith($":{_other.BaseAddress.Port}", StringComparison.Ordinal) && h.InUse == 2 && h.Waiting == 0);

        for (var i = 0; i < 6; i++)
        {
            _server.Open($"a{i}");
            _other.Open($"b{i}");
        }

        await Task.WhenAll(toA.Concat(toB)).WaitAsync(TestServer.Patience);
        Assert.Equal(2, _server.MaxInFlight);
        Assert.Equal(2, _other.MaxInFlight);
        Assert.True(_server.AcceptedConnections <= 2, $"host A accepted {_server.AcceptedConnections} connections");
    }

    [Fact]
    public async Task Queue_RequestsReachTheServerInTheOrderTheyWereIssued()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var first = FetchAsync(session, _server.Url("hold?id=q0"));
        await _server.WhenArrivals(1);
        var queued = new List<Task<string>>();
        for (var i = 1; i <= 8; i++)
        {
            queued.Add(FetchAsync(session, _server.Url($"hold?id=q{i}")));
            _server.Open($"q{i}");
        }

        Assert.Equal(8, session.Connector.Stats.Waiting);
        _server.Open("q0");
        await Task.WhenAll(queued.Append(first)).WaitAsync(TestServer.Patience);

        Assert.Equal(Enumerable.Range(0, 9).Select(i => $"q{i}"), _server.Arrivals);
    }

    [Fact]
    public async Task QueueLimit_RequestBeyondIt_FailsAtOnceAndLeaksNothing()
    {
        await using var session = new ClientSession("bulk", new ClientSessionOptions { Limit = 1, QueueLimit = 2 });
        var held = FetchAsync(session, _server.Url("hold?id=ql0"));
        await _server.WhenArrivals(1);
        var queued = new[] { FetchAsync(session, _server.Url("hold?id=ql1")), FetchAsync(session, _server.Url("hold?id=ql2")) };

        var rejected = session.GetAsync(_server.Url("hold?id=ql3"));

        Assert.True(rejected.IsCompleted, "a request beyond the queue limit fails without waiting");
        var error = await Assert.ThrowsAsync<QueueFullException>(() => rejected);
        Assert.Equal("bulk", error.SessionName);
        Assert.Equal((1, 2), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        foreach (var id in new[] { "ql0", "ql1", "ql2" })
        {
            _server.Open(id);
        }

        await Task.WhenAll(queued.Append(held)).WaitAsync(TestServer.Patience);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.DoesNotContain("ql3", _server.Arrivals);
    }
}
