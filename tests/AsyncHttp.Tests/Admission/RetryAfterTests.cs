using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// <c>Retry-After</c> on a 429 or 503 pauses admission to its host (ClientSessionOptions.RetryAfter), on the session's
/// clock: the requests to that host wait in the queue, the others go on, and nothing is lost.
/// </summary>
public sealed class RetryAfterTests
{
    private readonly SignalingTimeProvider _time = new();

    [Fact]
    public async Task GetAsync_429WithRetryAfter_PausesThatHostForThatLongAndNoOtherHost()
    {
        await using var server = await TestServer.StartAsync();
        await using var other = await TestServer.StartAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions { RetryAfter = true }, _time);
        HostPausedEventArgs? raised = null;
        session.Connector.HostPaused += (_, e) => raised = e;

        await using (var limited = await session.GetAsync(server.Url("/retryafter/429?after=2")))
        {
            Assert.Equal(429, limited.Status);
        }

        Assert.Equal(new Uri(server.BaseAddress.GetLeftPart(UriPartial.Authority) + "/"), raised!.Host);
        Assert.Equal((TimeSpan.FromSeconds(2), "s"), (raised.Duration, raised.SessionName));
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.Single(session.Connector.Stats.Hosts, h => h.Port == server.BaseAddress.Port).PausedFor);

        var paused = session.GetAsync(server.Url("/ok"));
        await using (var elsewhere = await session.GetAsync(other.Url("/ok")))
        {
            Assert.Equal("hello", await elsewhere.ReadAsStringAsync());
        }

        _time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(paused.IsCompleted);
        Assert.Equal(1, session.Connector.Stats.Waiting);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        await using (var resumed = await paused.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("hello", await resumed.ReadAsStringAsync());
        }

        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.All(session.Connector.Stats.Hosts, h => Assert.Equal(TimeSpan.Zero, h.PausedFor));
    }

    [Fact]
    public async Task GetAsync_RetryAfterOff_DoesNotPause()
    {
        await using var server = await TestServer.StartAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions(), _time);
        var raised = 0;
        session.Connector.HostPaused += (_, _) => raised++;

        (await session.GetAsync(server.Url("/retryafter/503?after=30"))).Dispose();
        var next = session.GetAsync(server.Url("/ok"));

        await using var response = await next.WaitAsync(TestServer.Patience);
        Assert.Equal(200, response.Status);
        Assert.Equal(0, raised);
    }

    [Fact]
    public async Task GetAsync_RetryAfterBeyondMax_IsCutToMaxRetryAfter_AndAShorterOneDoesNotShortenIt()
    {
        await using var server = await TestServer.StartAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions { RetryAfter = true, MaxRetryAfter = TimeSpan.FromSeconds(5) }, _time);

        (await session.GetAsync(server.Url("/retryafter/503?after=3600"))).Dispose();
        Assert.Equal(TimeSpan.FromSeconds(5), session.Connector.Stats.Hosts.Single().PausedFor);

        session.Connector.PauseHost(server.BaseAddress, TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(5), session.Connector.Stats.Hosts.Single().PausedFor);
    }

    [Fact]
    public async Task GetAsync_RetryAfterAsADate_CountsFromTheResponsesOwnDate()
    {
        await using var server = await TestServer.StartAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions { RetryAfter = true });
        var at = DateTimeOffset.UtcNow.AddSeconds(30).ToString("r");

        (await session.GetAsync(server.Url($"/retryafter/429?after={Uri.EscapeDataString(at)}"))).Dispose();

        // Whole seconds on both sides, and the server's Date stamped a moment before.
        var paused = session.Connector.Stats.Hosts.Single().PausedFor;
        Assert.InRange(paused, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(31));
    }

    [Fact]
    public async Task GetAsync_RetryAfterAsADate_CountsFromTheResponsesDateNotFromTheSessionsClock()
    {
        await using var server = await TestServer.StartAsync();

        // The session's clock is months away from the server's: only the response's own Date tells how far the date is.
        await using var session = new ClientSession("s", new ClientSessionOptions { RetryAfter = true, MaxRetryAfter = TimeSpan.FromDays(400) }, _time);
        var at = DateTimeOffset.UtcNow.AddSeconds(30).ToString("r");

        (await session.GetAsync(server.Url($"/retryafter/429?after={Uri.EscapeDataString(at)}"))).Dispose();

        var paused = session.Connector.Stats.Hosts.Single().PausedFor;
        Assert.InRange(paused, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(31));
    }

    [Fact]
    public async Task PauseHost_WhileRequestsWait_TheyGoInOrderWhenItEnds_AndAClosingSessionFailsThem()
    {
        await using var server = await TestServer.StartAsync();
        var session = new ClientSession("s", new ClientSessionOptions { Limit = 1 }, _time);
        session.Connector.PauseHost(server.BaseAddress, TimeSpan.FromSeconds(10));

        var first = session.GetAsync(server.Url("/ok"));
        var second = session.GetAsync(server.Url("/ok"));
        Assert.Equal((0, 2), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        _time.Advance(TimeSpan.FromSeconds(10));
        (await first.WaitAsync(TestServer.Patience)).Dispose();
        (await second.WaitAsync(TestServer.Patience)).Dispose();

        session.Connector.PauseHost(server.BaseAddress, TimeSpan.FromSeconds(10));
        var stranded = session.GetAsync(server.Url("/ok"));
        await session.DisposeAsync();
        await Assert.ThrowsAsync<SessionClosedException>(() => stranded);
    }
}
