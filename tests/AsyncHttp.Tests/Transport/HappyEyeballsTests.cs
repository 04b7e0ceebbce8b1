using System.Net;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// Happy Eyeballs (RFC 8305) in the connect callback, on loopback: a resolver hook gives a name two addresses, one
/// whose listener never answers (a full accept queue on 127.0.0.2) or refuses (nothing listening), and one that
/// answers (Kestrel on 127.0.0.3, the same port). The next attempt starts after the delay, or at once after a failure;
/// the first to connect wins; SockConnect bounds all attempts together. Time is a <see cref="SignalingTimeProvider"/>.
/// </summary>
public sealed class HappyEyeballsTests
{
    private static readonly IPAddress Silent = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Answering = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress AlsoSilent = IPAddress.Parse("127.0.0.4");
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(250);

    private readonly SignalingTimeProvider _time = new();

    private (Connector Connector, ClientSession Session) Session(IPAddress[] addresses, TimeSpan? delay, ClientTimeout? timeout = null)
    {
        var connector = new Connector(
            "eyeballs",
            new ConnectorOptions { HappyEyeballsDelay = delay, Resolver = (_, _) => Task.FromResult(addresses) },
            _time);
        return (connector, new ClientSession("eyeballs", connector, new ClientSessionOptions { Timeout = timeout ?? new ClientTimeout { Total = null } }));
    }

    private static Uri Url(TestServer server, string path) => new($"http://eyeballs.test:{server.BaseAddress.Port}/{path}");

    private static async Task AssertNothingLeftAsync(Connector connector, ClientSession session)
    {
        var stats = connector.Stats;
        Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
        await session.DisposeAsync();
        await connector.DisposeAsync();
    }

    [Fact]
    public async Task FirstAddressNeverAnswers_TheNextStartsAfterTheDelay_AndWins()
    {
        await using var server = await TestServer.StartAsync(Answering);
        using var silent = await LoopbackSockets.FullBacklogAsync(Silent, server.BaseAddress.Port);
        var (connector, session) = Session([Silent, Answering], Delay);

        var request = session.GetAsync(Url(server, "ok"));
        await _time.WhenTimerCreated(Delay);
        _time.Advance(Delay - TimeSpan.FromMilliseconds(1));

        // Only the first attempt runs, and it hangs: nothing reached the answering address yet.
        Assert.False(request.IsCompleted);
        Assert.Equal(0, server.AcceptedConnections);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        await using (var response = await request.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        Assert.Equal(1, server.AcceptedConnections);
        Assert.Equal((1L, 1), (connector.Stats.ConnectionsOpened, connector.Stats.OpenConnections));
        await AssertNothingLeftAsync(connector, session);
    }

    [Fact]
    public async Task FirstAddressRefuses_TheNextStartsAtOnce()
    {
        await using var server = await TestServer.StartAsync(Answering);
        var (connector, session) = Session([Silent, Answering], Delay);

        // Nothing listens on 127.0.0.2 at that port: refused at once, so 127.0.0.3 is tried without waiting for the delay.
        await using (var response = await session.GetAsync(Url(server, "ok")).WaitAsync(TestServer.Patience))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        Assert.Equal(1L, connector.Stats.ConnectionsOpened);
        await AssertNothingLeftAsync(connector, session);
    }

    [Fact]
    public async Task SockConnect_BoundsEveryAttemptTogether()
    {
        await using var server = await TestServer.StartAsync(Answering);
        using var silent = await LoopbackSockets.FullBacklogAsync(Silent, server.BaseAddress.Port);
        using var alsoSilent = await LoopbackSockets.FullBacklogAsync(AlsoSilent, server.BaseAddress.Port);
        var sockConnect = TimeSpan.FromSeconds(2);
        var (connector, session) = Session([Silent, AlsoSilent], Delay, new ClientTimeout { Total = null, SockConnect = sockConnect });

        var request = session.GetAsync(Url(server, "ok"));
        await _time.WhenTimerCreated(Delay);
        _time.Advance(Delay);
        _time.Advance(sockConnect - Delay - TimeSpan.FromMilliseconds(1));
        Assert.False(request.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(sockConnect, error.Timeout);
        Assert.Equal((0L, 0), (connector.Stats.ConnectionsOpened, connector.Stats.OpenConnections));
        await AssertNothingLeftAsync(connector, session);
    }

    [Fact]
    public async Task NoDelay_TriesTheAddressesOneAfterAnother()
    {
        await using var server = await TestServer.StartAsync(Answering);
        using var silent = await LoopbackSockets.FullBacklogAsync(Silent, server.BaseAddress.Port);
        var sockConnect = TimeSpan.FromSeconds(5);
        var (connector, session) = Session([Silent, Answering], delay: null, new ClientTimeout { Total = null, SockConnect = sockConnect });

        // The first attempt hangs, and nothing starts beside it: SockConnect ends the establishment.
        var request = session.GetAsync(Url(server, "ok"));
        await _time.WhenTimerCreated(sockConnect);
        _time.Advance(sockConnect - TimeSpan.FromMilliseconds(1));
        Assert.False(request.IsCompleted);
        Assert.Equal(0, server.AcceptedConnections);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(0, server.AcceptedConnections);
        await AssertNothingLeftAsync(connector, session);
    }

    [Fact]
    public async Task EveryAddressRefuses_FailsWithTheLastOnesError()
    {
        var port = LoopbackSockets.ClosedPort(Answering);
        var (connector, session) = Session([Silent, Answering], Delay);

        var error = await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://eyeballs.test:{port}/ok").WaitAsync(TestServer.Patience));

        Assert.Contains($"Cannot connect to http://eyeballs.test:{port} (127.0.0.3)", error.Message, StringComparison.Ordinal);
        Assert.Equal((0L, 0), (connector.Stats.ConnectionsOpened, connector.Stats.OpenConnections));
        await AssertNothingLeftAsync(connector, session);
    }

    [Fact]
    public void Interleave_AlternatesTheFamiliesFromTheFirst_KeepingTheResolversOrderWithinEach()
    {
        IPAddress[] resolved = [IPAddress.Parse("::1"), IPAddress.Parse("::2"), IPAddress.Parse("::3"), IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2")];

        var ordered = HappyEyeballs.Interleave(resolved);

        Assert.Equal(["::1", "10.0.0.1", "::2", "10.0.0.2", "::3"], ordered.Select(a => a.ToString()));
        Assert.Equal(["10.0.0.1", "::1"], HappyEyeballs.Interleave([IPAddress.Parse("10.0.0.1"), IPAddress.Parse("::1")]).Select(a => a.ToString()));
    }
}
