using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Timeouts;

/// <summary>
/// <see cref="ClientTimeout.Connect"/> bounds the queue wait and establishing a new connection (DNS, TCP, TLS), with a
/// fresh budget on every hop of a redirect chain, as aiohttp applies <c>timeout.connect</c> around each
/// <c>connector.connect</c>. Time is a <see cref="SignalingTimeProvider"/>: nothing here sleeps.
/// </summary>
public sealed class ConnectTimeoutTests : IAsyncLifetime
{
    private static readonly TimeSpan Connect = TimeSpan.FromSeconds(5);

    private readonly SignalingTimeProvider _time = new();
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>A request that no timeout bounds: it holds the slot for as long as the test wants.</summary>
    private static RequestOptions Unbounded => new() { Timeout = new ClientTimeout { Total = null, SockConnect = null } };

    /// <summary>
    /// Limit 1: a holder takes the slot, <c>redirecting</c> queues behind it (its first hop), a third request queues
    /// behind that. When the holder is let go, the redirecting request's first hop is admitted and answered with a
    /// redirect; its slot goes to the third request, and its second hop waits in the queue.
    /// </summary>
    private async Task<(ClientSession Session, Task<ClientResponse> Redirecting, Task<ClientResponse> Third)> SecondHopQueuedAsync(
        string id, bool withMiddleware, TimeSpan waitBeforeFirstHop)
    {
        var secondHopQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var trace = new ClientTrace
        {
            OnConnectionQueuedStart = e =>
            {
                if (e.Url?.AbsolutePath == "/ok")
                {
                    secondHopQueued.TrySetResult();
                }
            },
        };
        var session = new ClientSession(
            "connect",
            new ClientSessionOptions { Limit = 1, Timeout = { Connect = Connect } },
            _time,
            middlewares: withMiddleware ? [() => new PassThrough()] : null,
            traces: [trace]);
        var holder = session.GetAsync(_server.Url($"hold?id={id}-holder"), Unbounded);
        await _server.WhenArrived($"{id}-holder");
        var redirecting = session.GetAsync(_server.Url("redirect?to=/ok"));
        var third = session.GetAsync(_server.Url($"hold?id={id}-third"), Unbounded);
        Assert.Equal(2, session.Connector.Stats.Waiting);

        _time.Advance(waitBeforeFirstHop);
        _server.Open($"{id}-holder");
        await using (var held = await holder.WaitAsync(TestServer.Patience))
        {
            Assert.Equal($"done:{id}-holder", await held.ReadAsStringAsync());
        }

        await _server.WhenArrived($"{id}-third");
        await secondHopQueued.Task.WaitAsync(TestServer.Patience);
        return (session, redirecting, third);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connect_RedirectHopStuckInTheQueue_FiresWithConnectTimeout(bool withMiddleware)
    {
        var (session, redirecting, third) = await SecondHopQueuedAsync(withMiddleware ? "m1" : "s1", withMiddleware, TimeSpan.Zero);
        await using (session)
        {
            // The first hop took no time at all: the second hop's budget is its own, and it runs out in the queue.
            _time.Advance(Connect);

            var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => redirecting.WaitAsync(TestServer.Patience));
            Assert.Equal(TimeoutKind.Connect, error.Kind);
            Assert.Equal(Connect, error.Timeout);
            Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

            _server.Open(withMiddleware ? "m1-third" : "s1-third");
            await using (var response = await third.WaitAsync(TestServer.Patience))
            {
                await response.ReadAsStringAsync();
            }

            Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        }

        await _server.WhenNoOpenConnections();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connect_EachHopWaitsLessThanItsBudget_SucceedsThoughTheirSumIsMore(bool withMiddleware)
    {
        // 4 s in the queue for the first hop, 4 s for the second: 8 s in all against Connect = 5 s.
        var (session, redirecting, third) = await SecondHopQueuedAsync(withMiddleware ? "m2" : "s2", withMiddleware, TimeSpan.FromSeconds(4));
        await using (session)
        {
            _time.Advance(TimeSpan.FromSeconds(4));
            Assert.False(redirecting.IsCompleted);

            _server.Open(withMiddleware ? "m2-third" : "s2-third");
            await using (var response = await third.WaitAsync(TestServer.Patience))
            {
                await response.ReadAsStringAsync();
            }

            await using (var redirected = await redirecting.WaitAsync(TestServer.Patience))
            {
                Assert.Equal("hello", await redirected.ReadAsStringAsync());
                Assert.Single(redirected.History);
            }

            Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connect_TlsHandshakeStalls_FiresWithConnectTimeout(bool withMiddleware)
    {
        var connect = TimeSpan.FromSeconds(3);
        await using var server = new FaultServer();
        await using var session = new ClientSession(
            "connect-tls",
            new ClientSessionOptions { Timeout = { Connect = connect, SockConnect = TimeSpan.FromSeconds(30) } },
            _time,
            middlewares: withMiddleware ? [() => new PassThrough()] : null);
        var request = session.GetAsync(server.TlsUrl());
        await server.WhenTlsHandshakeStarted();

        _time.Advance(connect - TimeSpan.FromMilliseconds(1));
        Assert.False(request.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.Connect, error.Kind);
        Assert.Equal(connect, error.Timeout);
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 0), (stats.InUse, stats.Waiting, stats.OpenConnections));
        await server.WhenAllSocketsClosed();
        Assert.Equal(1, server.TlsHandshakesStarted);
    }

    /// <summary>A middleware that changes nothing: with it, every hop is admitted by the innermost handler.</summary>
    private sealed class PassThrough : DelegatingHandler;
}
