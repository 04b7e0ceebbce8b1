using System.Runtime.CompilerServices;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Reliability;

/// <summary>
/// The first promise: a slot comes back exactly once, and <see cref="ClientSessionOptions.Limit"/> bounds the
/// connections a session holds open, whatever a hostile server or a careless caller does. Each test here failed
/// before slots were owned by one lease.
/// </summary>
public sealed class SlotOwnershipTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    /// <summary>A session with or without a middleware: the two ways a hop reaches admission.</summary>
    private static ClientSession NewSession(bool middleware, ClientSessionOptions options, TimeProvider? time = null, CapturingLoggerProvider? logs = null, ClientTrace? trace = null)
        => new(
            "owned",
            options,
            time,
            logs,
            middleware ? [static () => new PassThroughHandler()] : null,
            traces: trace is null ? null : [trace]);

    private sealed class PassThroughHandler : DelegatingHandler;

    [Theory]
    [InlineData("//:abc")]
    [InlineData("//[")]
    [InlineData("//[::1]:99999/")]
    public async Task Redirect_ToALocationThatCannotBeParsed_GivesAClientExceptionAndTheSlotBack(string location)
    {
        await using var server = new FaultServer();
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        var error = await Assert.ThrowsAnyAsync<ClientException>(
            () => session.GetAsync(server.Url($"{FaultServer.Redirect}?location={Uri.EscapeDataString(location)}")).WaitAsync(TestServer.Patience));

        Assert.Contains("Location", error.Message, StringComparison.Ordinal);
        AssertNothingHeld(session);
        await using var next = await session.GetAsync(server.Url(FaultServer.Ok)).WaitAsync(TestServer.Patience);
        Assert.Equal("ok", await next.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_KeptAfterItsResponseIsDropped_IsNotCutWhenTheCollectorRuns(bool middleware)
    {
        const int Size = 512 * 1024;
        var logs = new CapturingLoggerProvider();
        await using var session = NewSession(middleware, new ClientSessionOptions { Limit = 1 }, logs: logs);
        var stream = await OpenStreamAndDropResponseAsync(session, _server.Url($"big?size={Size}"));
        var buffer = new byte[1024];
        var total = await stream.ReadAsync(buffer);

        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(1, session.Connector.Stats.InUse);
        for (var read = -1; read != 0 && total <= Size; total += read)
        {
            read = await stream.ReadAsync(buffer);
        }

        Assert.Equal(Size, total);
        AssertNothingHeld(session);
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Name == "ResponseLeaked");
        await stream.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_DroppedWithItsResponse_IsReclaimedWhenCollected(bool middleware)
    {
        var logs = new CapturingLoggerProvider();
        await using var session = NewSession(middleware, new ClientSessionOptions { Limit = 1 }, logs: logs);
        await OpenStreamAndDropBothAsync(session, _server.Url("big?size=200000"));

        await Collector.UntilIdleAsync(session);

        AssertNothingHeld(session);
        Assert.Contains(logs.Entries, e => e.EventId.Name == "ResponseLeaked");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task OpenStreamAndDropBothAsync(ClientSession session, Uri url)
    {
        var stream = await OpenStreamAndDropResponseAsync(session, url);
        await stream.ReadExactlyAsync(new byte[1024]);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<Stream> OpenStreamAndDropResponseAsync(ClientSession session, Uri url)
    {
        var response = await session.GetAsync(url);
        return await response.ReadAsStreamAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Limit_ResponsesDisposedEarly_NeverOpenMoreConnectionsThanTheLimit(bool middleware)
    {
        const int Limit = 2;
        await using var server = new FaultServer();
        var maxOpenAtClient = 0;
        ClientSession? session = null;
        var trace = new ClientTrace
        {
            // At every connection the connector opens, before it connects: those open, this one counted among them.
            OnConnectionCreateStart = _ => InterlockedMax(ref maxOpenAtClient, session!.Connector.Stats.OpenConnections),
        };
        session = NewSession(middleware, new ClientSessionOptions { Limit = Limit }, trace: trace);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            for (var i = 0; i < 10; i++)
            {
                // A body the server sends at once, and one it stalls: a drain in the background would hold either open.
                var path = i % 2 == 0 ? FaultServer.Bytes : FaultServer.StalledBody;
                await using var response = await session.GetAsync(server.Url($"{path}?size={512 * 1024}"));
                await using var stream = await response.ReadAsStreamAsync();
                await stream.ReadExactlyAsync(new byte[1024]);
            }
        })).WaitAsync(TestServer.Patience);

        Assert.InRange(server.MaxOpenAtAccept, 1, Limit);
        Assert.InRange(maxOpenAtClient, 1, Limit);
        AssertNothingHeld(session);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    /// <summary>
    /// Two hosts on one Limit: the connections one host's requests leave idle in the pool count against the Limit, so a
    /// request to the other host makes room by closing the least recently used of them; never more than the Limit open.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Limit_TwoHosts_IdleConnectionsOfOneMakeRoomForTheOther(bool middleware)
    {
        const int Limit = 2;
        await using var server = new FaultServer();
        var maxOpenAtClient = 0;
        ClientSession? session = null;
        var trace = new ClientTrace { OnConnectionCreateStart = _ => InterlockedMax(ref maxOpenAtClient, session!.Connector.Stats.OpenConnections) };
        // Idle connections are kept for long: without room made, a connect to the other host would wait for them.
        session = NewSession(middleware, new ClientSessionOptions { Limit = Limit, KeepAliveTimeout = TimeSpan.FromHours(1) }, trace: trace);

        // Rounds of Limit requests at once to one host, then to the other: each round finds the other host's
        // connections idle, Limit of them, and must end them to open its own.
        for (var round = 0; round < 6; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, Limit).Select(async _ =>
            {
                var url = round % 2 == 0 ? server.Url($"{FaultServer.Bytes}?size=1000") : server.SecondHostUrl($"{FaultServer.Bytes}?size=1000");
                await using var response = await session.GetAsync(url);
                Assert.Equal(1000, (await response.ReadAsBytesAsync()).Length);
            })).WaitAsync(TestServer.Patience);
        }

        Assert.True(server.MaxOpenAtAccept <= Limit && maxOpenAtClient <= Limit, $"server {server.MaxOpenAtAccept}, client {maxOpenAtClient}");
        Assert.InRange(session.Connector.Stats.OpenConnections, 1, Limit);
        AssertNothingHeld(session);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Total_OnAResponseHeldButNeverRead_GivesTheSlotBackAndFailsLaterReads(bool middleware, bool ownTimer)
    {
        var time = new SignalingTimeProvider();
        var total = TimeSpan.FromSeconds(30);

        // Total alone shares the session's lanes; with SockRead set, the request has a timer of its own.
        var timeout = new ClientTimeout { Total = total, SockRead = ownTimer ? TimeSpan.FromHours(1) : null };
        await using var session = NewSession(middleware, new ClientSessionOptions { Limit = 1, Timeout = timeout }, time);
        await using var response = await session.GetAsync(_server.Url("big?size=300000"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        time.Advance(total);

        AssertNothingHeld(session);
        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => response.ReadAsBytesAsync());
        Assert.Equal(total, error.Timeout);
        await _server.WhenNoOpenConnections();
    }

    [Theory]
    [InlineData("HEAD", "big?size=5000", false)]
    [InlineData("GET", "status/204", false)]
    [InlineData("GET", "status/304", false)]
    [InlineData("GET", "big?size=0", false)]
    [InlineData("HEAD", "big?size=5000", true)]
    [InlineData("GET", "status/304", true)]
    public async Task Response_WithoutABody_GivesTheSlotBackWhenTheHeadersAreIn(string method, string path, bool middleware)
    {
        await using var session = NewSession(middleware, new ClientSessionOptions { Limit = 1 });

        var response = await session.SendAsync(new HttpMethod(method), _server.Url(path));

        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
        await using var next = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);
        Assert.Equal("hello", await next.ReadAsStringAsync());
        Assert.Empty(await response.ReadAsBytesAsync());
        GC.KeepAlive(response);
    }

    [Theory]
    [InlineData("big?size=70000", false)]
    [InlineData("compressed?encoding=gzip&size=70000", false)]
    [InlineData("big?size=70000", true)]
    public async Task Body_ReadTwiceBuffered_GivesTheSameContentBothTimes(string path, bool middleware)
    {
        await using var session = NewSession(middleware, new ClientSessionOptions());
        await using var response = await session.GetAsync(_server.Url(path));

        var bytes = await response.ReadAsBytesAsync();
        var text = await response.ReadAsStringAsync();
        var again = await response.ReadAsBytesAsync();

        Assert.Equal(70000, bytes.Length);
        Assert.Equal(70000, text.Length);
        Assert.Equal(bytes, again);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Body_ReadAgainAfterItWasStreamed_ThrowsInvalidOperation()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("big?size=10000"));
        await using (var stream = await response.ReadAsStreamAsync())
        {
            await stream.CopyToAsync(Stream.Null);
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => response.ReadAsBytesAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => response.ReadAsStreamAsync());
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Reload_WhileARequestIsInFlight_LeavesItTheSettingsItStartedWith()
    {
        await using var session = new ClientSession(new ClientSessionOptions { MaxResponseContentBufferSize = 1024 * 1024 });
        await using var response = await session.GetAsync(_server.Url("big?size=500000"));

        session.Reconfigure(new ClientSessionOptions { MaxResponseContentBufferSize = 1000 });

        Assert.Equal(500000, (await response.ReadAsBytesAsync()).Length);
        await using var later = await session.GetAsync(_server.Url("big?size=500000"));
        await Assert.ThrowsAsync<ClientPayloadException>(() => later.ReadAsBytesAsync());
    }

    /// <summary>
    /// 2,000 requests on Limit = 2 that do everything a careless caller and a hostile server can: dispose early, follow
    /// redirects to a Location that cannot be parsed, send HEADs, cancel while queued, connecting, at the headers and in
    /// the body, hold responses unread until Total fires, and drop responses for the collector to reclaim. Open
    /// connections never exceed the limit, counted where the connector opens them and where the server accepts them.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Storm_TwoThousandMixedRequests_NeverOpenMoreConnectionsThanTheLimit(bool middleware)
    {
        const int Limit = 2;
        const int Workers = 8;
        const int PerWorker = 250;
        await using var server = new FaultServer();
        var time = new SignalingTimeProvider();
        var maxOpenAtClient = 0;
        ClientSession? session = null;
        // At every connection the connector opens, before it connects: those open, this one counted among them.
        var trace = new ClientTrace { OnConnectionCreateStart = _ => InterlockedMax(ref maxOpenAtClient, session!.Connector.Stats.OpenConnections) };

        // No timeout but the per-request Total of the requests held unread: fake time moves only for those.
        var options = new ClientSessionOptions { Limit = Limit, Timeout = new ClientTimeout { Total = null, SockConnect = null } };
        session = NewSession(middleware, options, time, trace: trace);
        var heldTotal = new RequestOptions { Timeout = new ClientTimeout { Total = TimeSpan.FromSeconds(10), SockConnect = null } };
        var unexpected = new System.Collections.Concurrent.ConcurrentQueue<Exception>();

        // One step moves the clock at a time, and checks its response once the timers it fired have run.
        using var clock = new SemaphoreSlim(1);

        async Task StepAsync(int kind, int seed)
        {
            using var cts = new CancellationTokenSource();
            switch (kind)
            {
                case 0: // disposed after 1 KB of 512 KB, or of a body the server stalls
                    await using (var r = await session.GetAsync(server.Url($"{(seed % 2 == 0 ? FaultServer.Bytes : FaultServer.StalledBody)}?size={512 * 1024}")))
                    {
                        await using var stream = await r.ReadAsStreamAsync();
                        await stream.ReadExactlyAsync(new byte[1024]);
                    }

                    break;
                case 1: // read to the end
                    await using (var r = await session.GetAsync(server.Url($"{FaultServer.Bytes}?size={seed % 20_000}")))
                    {
                        await r.ReadAsBytesAsync();
                    }

                    break;
                case 2: // a redirect to a Location that cannot be parsed
                    await Assert.ThrowsAnyAsync<ClientException>(() => session.GetAsync(server.Url($"{FaultServer.Redirect}?location={Uri.EscapeDataString("//[::1]:99999/")}")));
                    break;
                case 3: // a HEAD, never disposed: released with its headers
                    Assert.True((await session.HeadAsync(server.Url($"{FaultServer.Bytes}?size=5000").AbsoluteUri)).IsReleased);
                    break;
                case 4: // cancelled at once (mostly queued) or after some turns (queued, connecting, at the headers)
                    var pending = session.GetAsync(server.Url(FaultServer.NeverAnswers), cancellationToken: cts.Token);
                    for (var i = 0; i < seed % 8 && !pending.IsCompleted; i++)
                    {
                        await Task.Yield();
                    }

                    await cts.CancelAsync();
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
                    break;
                case 5: // cancelled in the body
                    await using (var r = await session.GetAsync(server.Url($"{FaultServer.StalledBody}?size={512 * 1024}"), cancellationToken: cts.Token))
                    {
                        var stream = await r.ReadAsStreamAsync();
                        await stream.ReadExactlyAsync(new byte[1024]);
                        await cts.CancelAsync();
                        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.ReadExactlyAsync(new byte[600 * 1024]).AsTask());
                    }

                    break;
                case 6: // held unread until its Total fires
                    ClientResponse held;
                    try
                    {
                        held = await session.GetAsync(server.Url($"{FaultServer.Bytes}?size={300_000}"), heldTotal);
                    }
                    catch (TotalTimeoutException)
                    {
                        break; // another step moved the clock while this one waited in the queue
                    }

                    await clock.WaitAsync();
                    try
                    {
                        time.Advance(TimeSpan.FromSeconds(10));

                        // FakeTimeProvider lets one thread at a time run due timers: when another thread is in there (a
                        // timer being set), this Advance returns before ours ran. Ask again until it has, bounded in
                        // count and in time (a loaded machine can keep that thread off a core for a while).
                        var patience = System.Diagnostics.Stopwatch.StartNew();
                        for (var i = 0; i < 1_000_000 && !held.IsReleased && patience.Elapsed < TestServer.Patience; i++)
                        {
                            await Task.Yield();
                            time.Advance(TimeSpan.Zero);
                        }

                        Assert.True(held.IsReleased);
                    }
                    finally
                    {
                        clock.Release();
                    }

                    await Assert.ThrowsAsync<TotalTimeoutException>(() => held.ReadAsBytesAsync());
                    held.Dispose();
                    break;
                default: // dropped without dispose: the collector reclaims it (and the others waiting need it to)
                    var dropped = await DropAsync(session, server.Url($"{FaultServer.Bytes}?size={100_000}"));

                    // Off the stack that completed the request (its task, which holds the response, is on it), then
                    // collect until the response is gone.
                    await Task.Yield();
                    for (var i = 0; i < 10 && IsAlive(dropped); i++)
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                        await Task.Yield();
                    }

                    Assert.False(IsAlive(dropped));
                    break;
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < PerWorker; i++)
            {
                try
                {
                    await StepAsync(random.Next(8), random.Next(1000));
                }
                catch (Exception ex)
                {
                    unexpected.Enqueue(ex);
                }
            }
        }))).WaitAsync(TestServer.Patience);

        await Collector.UntilIdleAsync(session);

        Assert.Empty(unexpected);
        Assert.True(server.MaxOpenAtAccept <= Limit && maxOpenAtClient <= Limit, $"server {server.MaxOpenAtAccept}, client {maxOpenAtClient}");
        Assert.InRange(server.MaxOpenAtAccept, 1, Limit);
        Assert.InRange(maxOpenAtClient, 1, Limit);
        Assert.InRange(session.Connector.Stats.OpenConnections, 0, Limit);
        AssertNothingHeld(session);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    /// <summary>In a frame of its own: a target read here is not kept alive by the caller's frame (Debug builds keep every local).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool IsAlive(WeakReference<ClientResponse> response) => response.TryGetTarget(out _);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference<ClientResponse>> DropAsync(ClientSession session, Uri url) => new(await session.GetAsync(url));

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
