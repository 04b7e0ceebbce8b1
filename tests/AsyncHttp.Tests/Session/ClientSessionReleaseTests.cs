using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Session;

/// <summary>The slot comes back, whatever happens to the request: every way a request can end, and a mix of 1,000.</summary>
public sealed class ClientSessionReleaseTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    [Fact]
    public async Task Release_BodyReadToTheEndWithoutDispose_GivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var response = await session.GetAsync(_server.Url("big?size=200000"));

        var body = await response.ReadAsBytesAsync();

        Assert.Equal(200000, body.Length);
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_BodyReadToTheEndWithoutDispose_LeavesNothingForTheFinalizer()
    {
        // The leak guard's finalizer has nothing to do once the body gave the slot back, so it must not be left pending.
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        for (var i = 0; i < 10; i++)
        {
            await ReadAndDropAsync(session, _server.Url("big?size=1000"));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();

        Assert.Equal(0, session.GuardsFinalized);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_StreamReadToTheEndWithoutDispose_GivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var response = await session.GetAsync(_server.Url("big?size=50000"));
        var stream = await response.ReadAsStreamAsync();

        var total = 0;
        var buffer = new byte[8192];
        for (var read = -1; read != 0 && total <= 50000; total += read)
        {
            read = await stream.ReadAsync(buffer);
        }

        Assert.Equal(50000, total);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_StreamReadToItsDeclaredLength_GivesTheSlotBackAtTheLastByte()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var response = await session.GetAsync(_server.Url("big?size=50000"));
        Assert.Equal(50000, response.ContentHeaders.ContentLength);
        var stream = await response.ReadAsStreamAsync();

        var total = 0;
        var buffer = new byte[8192];
        for (var i = 0; i < 1000 && total < 50000; i++)
        {
            total += await stream.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, 50000 - total)));
        }

        // No read of nothing was needed to find the end: the declared length says where it is.
        Assert.Equal(50000, total);
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
        Assert.Equal(0, await stream.ReadAsync(buffer));
    }

    [Theory]
    [InlineData("GET", 0)]
    [InlineData("HEAD", 50000)]
    [InlineData("HEAD", 20_000_000)]
    public async Task Release_EmptyBodyRead_GivesTheSlotBack(string method, int declared)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var response = await session.SendAsync(new HttpMethod(method), _server.Url($"big?size={declared}"));
        Assert.Equal(declared, response.ContentHeaders.ContentLength);

        var body = await response.ReadAsBytesAsync();

        Assert.Empty(body);
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_DisposedUnread_GivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var response = await session.GetAsync(_server.Url("big?size=1000000"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        await response.DisposeAsync();

        AssertNothingHeld(session);
        await using var next = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);
        Assert.Equal("hello", await next.ReadAsStringAsync());
    }

    [Fact]
    public async Task Release_ConnectionRefused_GivesConnectorErrorAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        var error = await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/"));

        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        Assert.IsAssignableFrom<HttpRequestException>(error);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_ServerResetBeforeHeaders_GivesServerDisconnectedAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.GetAsync(_server.Url("reset")));

        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_ServerResetDuringBody_GivesATypedErrorAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        await using var response = await session.GetAsync(_server.Url("resetbody?id=rb"));
        _server.Open("rb");

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadAsStringAsync());

        Assert.IsType<ServerDisconnectedException>(error.InnerException);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_CancelledWhileQueued_GivesOperationCanceledAndConsumesNothing()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var held = session.GetAsync(_server.Url("hold?id=cq0"));
        await _server.WhenArrivals(1);
        using var cts = new CancellationTokenSource();
        var queued = session.GetAsync(_server.Url("hold?id=cq1"), cancellationToken: cts.Token);
        Assert.Equal(1, session.Connector.Stats.Waiting);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        _server.Open("cq0");
        (await held).Dispose();
        AssertNothingHeld(session);
        Assert.DoesNotContain("cq1", _server.Arrivals);
    }

    [Fact]
    public async Task Release_CancelledWhileConnecting_GivesOperationCanceledAndTheSlotBack()
    {
        var time = new SignalingTimeProvider();
        var sockConnect = TimeSpan.FromSeconds(17);
        using var backlog = await LoopbackSockets.FullBacklogAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions { Limit = 1, Timeout = { SockConnect = sockConnect } }, time);
        using var cts = new CancellationTokenSource();
        var request = session.GetAsync($"http://127.0.0.1:{backlog.Port}/", cancellationToken: cts.Token);

        await time.WhenTimerCreated(sockConnect); // the connect attempt is under way
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request.WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_CancelledWhileAwaitingHeaders_GivesOperationCanceledAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var cts = new CancellationTokenSource();
        var request = session.GetAsync(_server.Url("hold?id=ch"), cancellationToken: cts.Token);
        await _server.WhenArrived("ch");

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_CancelledWhileReadingTheBody_GivesOperationCanceledAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        await using var response = await session.GetAsync(_server.Url("slowbody?id=cb"));
        using var cts = new CancellationTokenSource();
        var read = response.ReadAsStringAsync(cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Release_ThousandMixedRequests_LeaveNothingInUseOrWaiting()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 8, LimitPerHost = 6 });
        var refused = $"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/";
        var random = new Random(42);
        var plans = Enumerable.Range(0, 1000).Select(i => (Kind: i % 7, Seed: random.Next())).ToArray();
        var outcomes = new int[7];

        async Task RunAsync(int kind, int seed)
        {
            var r = new Random(seed);
            using var cts = new CancellationTokenSource();
            try
            {
                switch (kind)
                {
                    case 0: // read to the end without disposing
                        var response = await session.GetAsync(_server.Url("big?size=3000"));
                        await response.ReadAsBytesAsync();
                        break;
                    case 1: // dispose unread
                        (await session.GetAsync(_server.Url("big?size=300000"))).Dispose();
                        break;
                    case 2:
                        await session.GetAsync(refused);
                        break;
                    case 3:
                        await session.GetAsync(_server.Url("reset"));
                        break;
                    case 4: // server resets mid-body
                        await using (var partial = await session.GetAsync(_server.Url("resetbody")))
                        {
                            await partial.ReadAsStringAsync();
                        }

                        break;
                    case 5: // cancelled before sending or while queued, connecting or awaiting headers
                        var pending = session.GetAsync(_server.Url("big?size=100"), cancellationToken: cts.Token);
                        for (var i = r.Next(3); i > 0; i--)
                        {
                            await Task.Yield();
                        }

                        await cts.CancelAsync();
                        (await pending).Dispose();
                        break;
                    default: // cancelled while reading the body
                        await using (var body = await session.GetAsync(_server.Url("big?size=500000"), cancellationToken: cts.Token))
                        {
                            var stream = await body.ReadAsStreamAsync(cts.Token);
                            await stream.ReadAtLeastAsync(new byte[1024], 1, cancellationToken: cts.Token);
                            await cts.CancelAsync();
                            await stream.ReadAtLeastAsync(new byte[1024], 1, cancellationToken: cts.Token);
                        }

                        break;
                }

                Interlocked.Increment(ref outcomes[kind]);
            }
            catch (Exception ex) when (ex is ClientException or OperationCanceledException)
            {
                Interlocked.Increment(ref outcomes[kind]);
            }
        }

        await Task.WhenAll(plans.Select(p => Task.Run(() => RunAsync(p.Kind, p.Seed)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(1000, outcomes.Sum());
        AssertNothingHeld(session);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task ReadAndDropAsync(ClientSession session, Uri url)
    {
        var response = await session.GetAsync(url);
        Assert.Equal(1000, (await response.ReadAsBytesAsync()).Length);
    }
}
