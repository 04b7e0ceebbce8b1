using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Timeouts;

/// <summary>
/// Each timeout fires where DESIGN.md §3 says, with its own exception type naming it and its value. Time is a
/// <see cref="SignalingTimeProvider"/>: the tests advance it when the code waits on it, and never sleep.
/// </summary>
public sealed class ClientTimeoutTests : IAsyncLifetime
{
    private readonly SignalingTimeProvider _time = new();
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private ClientSession Session(ClientTimeout timeout, int limit = 10, bool withMiddleware = false)
        => new("timeouts", new ClientSessionOptions { Limit = limit, Timeout = timeout }, _time, middlewares: withMiddleware ? [() => new PassThrough()] : null);

    /// <summary>A middleware that changes nothing: with it, a request is built before it queues, and its own timer bounds the wait.</summary>
    private sealed class PassThrough : DelegatingHandler;

    [Fact]
    public async Task Total_ServerStallsTheBody_FiresDuringReadAsStringAsync()
    {
        var total = TimeSpan.FromSeconds(10);
        await using var session = Session(new ClientTimeout { Total = total });
        await using var response = await session.GetAsync(_server.Url("slowbody?id=t1"));

        var read = response.ReadAsStringAsync();
        _time.Advance(total);

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => read.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.Total, error.Kind);
        Assert.Equal(total, error.Timeout);
        Assert.Contains("Total", error.Message, StringComparison.Ordinal);
        Assert.Contains("00:00:10", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<ClientTimeoutException>(error);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task Total_TwoRequestsStartedApart_EachTimesOutAtItsOwnDeadline()
    {
        await using var session = Session(new ClientTimeout { Total = TimeSpan.FromSeconds(10) });
        await using var early = await session.GetAsync(_server.Url("slowbody?id=e1"));
        var earlyRead = early.ReadAsStringAsync();
        _time.Advance(TimeSpan.FromSeconds(4));
        await using var late = await session.GetAsync(_server.Url("slowbody?id=e2"));
        var lateRead = late.ReadAsStringAsync();

        _time.Advance(TimeSpan.FromSeconds(6));

        await Assert.ThrowsAsync<TotalTimeoutException>(() => earlyRead.WaitAsync(TestServer.Patience));
        Assert.False(lateRead.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(3.9));
        Assert.False(lateRead.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        await Assert.ThrowsAsync<TotalTimeoutException>(() => lateRead.WaitAsync(TestServer.Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Total_NotYetElapsed_DoesNotFire()
    {
        await using var session = Session(new ClientTimeout { Total = TimeSpan.FromSeconds(10) });
        await using var response = await session.GetAsync(_server.Url("slowbody?id=t2"));
        var read = response.ReadAsStringAsync();

        _time.Advance(TimeSpan.FromSeconds(9));
        _server.Open("t2");

        Assert.Equal("body:t2", await read.WaitAsync(TestServer.Patience));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connect_RequestStuckInTheQueue_FiresWithConnectTimeout(bool withMiddleware)
    {
        var connect = TimeSpan.FromSeconds(5);
        await using var session = Session(new ClientTimeout { Connect = connect }, limit: 1, withMiddleware);
        var held = session.GetAsync(_server.Url("hold?id=c1"));
        await _server.WhenArrived("c1");
        var queued = session.GetAsync(_server.Url("hold?id=c2"));

        _time.Advance(connect);

        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => queued.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.Connect, error.Kind);
        Assert.Equal(connect, error.Timeout);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        // The request already admitted is not bound by Connect any more.
        _server.Open("c1");
        await using var response = await held;
        Assert.Equal("done:c1", await response.ReadAsStringAsync());
        Assert.DoesNotContain("c2", _server.Arrivals);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Total_RequestStuckInTheQueue_FiresWithTotalTimeoutAndConsumesNothing(bool withMiddleware)
    {
        var total = TimeSpan.FromSeconds(8);
        await using var session = Session(new ClientTimeout { Total = total }, limit: 1, withMiddleware);
        var held = session.GetAsync(_server.Url("hold?id=q1"), new RequestOptions { Timeout = new ClientTimeout() });
        await _server.WhenArrived("q1");
        var queued = session.GetAsync(_server.Url("hold?id=q2"));

        _time.Advance(total);

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => queued.WaitAsync(TestServer.Patience));
        Assert.Equal(total, error.Timeout);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        _server.Open("q1");
        await using (var response = await held)
        {
            Assert.Equal("done:q1", await response.ReadAsStringAsync());
        }

        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.DoesNotContain("q2", _server.Arrivals);
    }

    [Fact]
    public async Task PerRequestConnect_InTheQueue_ALaterShorterOneExpiresFirst()
    {
        await using var session = Session(new ClientTimeout { Connect = TimeSpan.FromSeconds(20) }, limit: 1);
        var held = session.GetAsync(_server.Url("hold?id=r1"), new RequestOptions { Timeout = new ClientTimeout() });
        await _server.WhenArrived("r1");
        var patient = session.GetAsync(_server.Url("hold?id=r2"));
        var hurried = session.GetAsync(_server.Url("hold?id=r3"), new RequestOptions { Timeout = new ClientTimeout { Connect = TimeSpan.FromSeconds(3) } });

        _time.Advance(TimeSpan.FromSeconds(3));

        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => hurried.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeSpan.FromSeconds(3), error.Timeout);
        Assert.False(patient.IsCompleted);
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        // Once admitted, the patient request is no longer bound by Connect: it waits for its server as long as it takes.
        _server.Open("r1");
        await using (var first = await held)
        {
            Assert.Equal("done:r1", await first.ReadAsStringAsync());
        }

        await _server.WhenArrived("r2");
        _time.Advance(TimeSpan.FromSeconds(30));
        _server.Open("r2");
        await using var second = await patient.WaitAsync(TestServer.Patience);
        Assert.Equal("done:r2", await second.ReadAsStringAsync());
    }

    [Fact]
    public async Task SockRead_ChunksKeepComing_DoesNotFire_ThenAStallFires()
    {
        var sockRead = TimeSpan.FromSeconds(10);
        await using var session = Session(new ClientTimeout { Total = null, SockRead = sockRead });
        await using var response = await session.GetAsync(_server.Url("chunks?id=s1&count=6"));
        var stream = await response.ReadAsStreamAsync();
        var buffer = new byte[256];

        // Five gaps of 9 s each: 45 s in all, far beyond SockRead, but no single gap reaches it.
        for (var i = 0; i < 5; i++)
        {
            var read = stream.ReadAsync(buffer).AsTask();
            _time.Advance(TimeSpan.FromSeconds(9));
            _server.ReleaseChunk("s1");
            var n = await read.WaitAsync(TestServer.Patience);
            Assert.Equal($"chunk{i};", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }

        var stalled = stream.ReadAsync(buffer).AsTask();
        _time.Advance(sockRead);

        var error = await Assert.ThrowsAsync<SocketReadTimeoutException>(() => stalled.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.SockRead, error.Kind);
        Assert.Equal(sockRead, error.Timeout);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task SockRead_ServerNeverSendsHeaders_Fires()
    {
        var sockRead = TimeSpan.FromSeconds(7);
        await using var session = Session(new ClientTimeout { SockRead = sockRead });
        var request = session.GetAsync(_server.Url("hold?id=s2"));
        await _server.WhenArrived("s2");

        _time.Advance(sockRead);

        await Assert.ThrowsAsync<SocketReadTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task SockConnect_ConnectNeverCompletes_FiresWithSocketConnectTimeout()
    {
        var sockConnect = TimeSpan.FromSeconds(13);
        using var backlog = await LoopbackSockets.FullBacklogAsync();
        await using var session = Session(new ClientTimeout { SockConnect = sockConnect }, limit: 1);
        var request = session.GetAsync($"http://127.0.0.1:{backlog.Port}/");

        await _time.WhenTimerCreated(sockConnect);
        _time.Advance(sockConnect);

        var error = await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.SockConnect, error.Kind);
        Assert.Equal(sockConnect, error.Timeout);
        Assert.IsAssignableFrom<ConnectTimeoutException>(error);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Connect_TighterThanSockConnect_BoundsTheConnectAttempt()
    {
        var connect = TimeSpan.FromSeconds(3);
        using var backlog = await LoopbackSockets.FullBacklogAsync();
        await using var session = Session(new ClientTimeout { Connect = connect, SockConnect = TimeSpan.FromSeconds(30) });
        var request = session.GetAsync($"http://127.0.0.1:{backlog.Port}/");

        await _time.WhenTimerCreated(connect);
        _time.Advance(connect);

        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.Connect, error.Kind);
    }

    [Fact]
    public async Task CallerToken_WithTimeoutsSet_GivesOperationCanceledNotATimeout()
    {
        await using var session = Session(new ClientTimeout { Total = TimeSpan.FromSeconds(10), SockRead = TimeSpan.FromSeconds(5) });
        using var cts = new CancellationTokenSource();
        var request = session.GetAsync(_server.Url("hold?id=k1"), cancellationToken: cts.Token);
        await _server.WhenArrived("k1");

        await cts.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        Assert.IsNotAssignableFrom<ClientTimeoutException>(error);
        Assert.Equal(cts.Token, error.CancellationToken);
    }

    [Fact]
    public async Task PerRequestTimeout_ReplacesTheSessions()
    {
        await using var session = Session(new ClientTimeout { Total = TimeSpan.FromSeconds(100) });
        await using var response = await session.GetAsync(
            _server.Url("slowbody?id=p1"),
            new RequestOptions { Timeout = new ClientTimeout { Total = TimeSpan.FromSeconds(2) } });
        var read = response.ReadAsStringAsync();

        _time.Advance(TimeSpan.FromSeconds(2));

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => read.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeSpan.FromSeconds(2), error.Timeout);
    }

    [Fact]
    public async Task Timeouts_LongerThanATimerCanWait_AreKeptWithoutError()
    {
        // A system timer takes at most about 49 days; these are set in turn, each a little closer to its deadline.
        await using var session = new ClientSession(new ClientSessionOptions
        {
            Limit = 1,
            Timeout = { Total = TimeSpan.FromDays(365), Connect = TimeSpan.FromDays(60), SockRead = TimeSpan.FromDays(60) },
        });
        var first = session.GetAsync(_server.Url("hold?id=long1"));
        await _server.WhenArrived("long1");
        var queued = session.GetAsync(_server.Url("ok"), new RequestOptions { Timeout = new ClientTimeout { Total = TimeSpan.FromDays(100) } });

        _server.Open("long1");
        await using (var response = await first.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:long1", await response.ReadAsStringAsync());
        }

        await using var second = await queued.WaitAsync(TestServer.Patience);
        Assert.Equal("hello", await second.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    public void Validate_NonPositiveTimeout_IsRejectedNamingTheKey(int seconds)
    {
        var options = new ClientSessionOptions { Timeout = { SockRead = TimeSpan.FromSeconds(seconds) } };

        var error = Assert.Single(options.Validate());

        Assert.StartsWith("Timeout:SockRead", error, StringComparison.Ordinal);
    }
}
