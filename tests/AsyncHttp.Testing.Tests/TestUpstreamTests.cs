using System.IO.Compression;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Testing.Tests;

/// <summary>
/// The fake upstream as a user's test meets it: routes, recorded requests, and the session's own rules (admission,
/// queue, timeouts, release, retries, redirects, cookies, decompression) working around it as in production.
/// </summary>
public sealed class TestUpstreamTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly Uri Base = new("http://upstream.test/api/");

    private readonly FakeTimeProvider _time = new();
    private readonly TestUpstream _upstream = new();

    [Fact]
    public async Task Map_MethodAndPath_AnswersAndRecordsWhatTheSessionSent()
    {
        var route = _upstream.Map(HttpMethod.Post, "/api/items").Respond(TestResponse.Json("""{"id":7}""", HttpStatusCode.Created));
        var options = new ClientSessionOptions { BaseAddress = Base, Headers = { ["User-Agent"] = "tests/1.0" } };
        await using var session = Session(options);

        await using var response = await session.PostAsync(
            "items?page=2",
            new StringContent("{\"name\":\"ada\"}", Encoding.UTF8, "application/json"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["X-Trace"] = "abc" } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("application/json", response.ContentHeaders.ContentType?.MediaType);
        Assert.Equal("""{"id":7}""", await response.ReadAsStringAsync());
        var request = Assert.Single(_upstream.Requests);
        Assert.Same(request, Assert.Single(route.Requests));
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("http://upstream.test/api/items?page=2", request.Url.AbsoluteUri);
        Assert.Equal("tests/1.0", request.Headers["user-agent"]);
        Assert.Equal("abc", request.Headers["X-Trace"]);
        Assert.Equal("application/json; charset=utf-8", request.Headers["Content-Type"]);
        Assert.Equal("{\"name\":\"ada\"}", request.BodyAsString());
        Assert.Equal("bulk", request.SessionName);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task UseTestUpstream_OnASharedConnector_ServesEverySessionNamingEachAndKeepsThePriorities()
    {
        _upstream.Map(HttpMethod.Get, "/api/slow").Respond(TestResponse.Text("slow") with { HeadersDelay = TimeSpan.FromSeconds(10) });
        _upstream.Map(HttpMethod.Get, "/api/fast").Respond(TestResponse.Text("fast"));
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 1 }.UseTestUpstream(_upstream), _time);
        await using var bulk = new ClientSession("bulk", connector, new ClientSessionOptions { BaseAddress = Base });
        await using var priority = new ClientSession("priority", connector, new ClientSessionOptions { BaseAddress = Base, Priority = 10 });

        var held = bulk.GetAsync("slow");
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        var bulkNext = bulk.GetAsync("fast");
        var priorityNext = priority.GetAsync("fast");
        Assert.Equal((1, 1), (bulk.Stats.Waiting, priority.Stats.Waiting));
        _time.Advance(TimeSpan.FromSeconds(10));
        (await held.WaitAsync(Patience)).Dispose();
        (await priorityNext.WaitAsync(Patience)).Dispose();
        (await bulkNext.WaitAsync(Patience)).Dispose();

        // The freed slot went to priority first, though bulk's request waited longer; each request names its session.
        Assert.Equal(["bulk/slow", "priority/fast", "bulk/fast"], _upstream.Requests.Select(r => $"{r.SessionName}{r.Url.AbsolutePath[4..]}"));
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Map_NoRouteMatches_Answers404NamingTheRequest()
    {
        _upstream.Map(HttpMethod.Get, "/api/items");
        await using var session = Session();

        await using var wrongMethod = await session.DeleteAsync("items");
        await using var wrongPath = await session.GetAsync("items/1");

        Assert.Equal(HttpStatusCode.NotFound, wrongMethod.StatusCode);
        Assert.Equal("No route of the test upstream matches DELETE /api/items.", await wrongMethod.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, wrongPath.StatusCode);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Map_RouteWithoutResponse_Answers200Empty()
    {
        _upstream.Map(HttpMethod.Get, "/api/ping");
        await using var session = Session();

        await using var response = await session.GetAsync("ping");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await response.ReadAsBytesAsync());
    }

    [Fact]
    public async Task Map_PathWithQuery_MatchesPathAndQueryExactly()
    {
        _upstream.Map(HttpMethod.Get, "/api/search?q=a").Respond(TestResponse.Text("a"));
        _upstream.Map(HttpMethod.Get, "/api/search").Respond(TestResponse.Text("any"));
        await using var session = Session();

        Assert.Equal("a", await GetTextAsync(session, "search?q=a"));
        Assert.Equal("any", await GetTextAsync(session, "search?q=b"));
        Assert.Equal("any", await GetTextAsync(session, "search"));
    }

    [Fact]
    public async Task Map_Predicates_FirstMatchingRouteInOrderAnswers()
    {
        _upstream.Map(r => r.Headers.TryGetValue("X-Tenant", out var tenant) && tenant == "blue").Respond(TestResponse.Text("blue"));
        _upstream.Map(r => r.Url.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal)).Respond(TestResponse.Text("api"));
        _upstream.Map(HttpMethod.Get, "/api/never").Respond(TestResponse.Text("never"));
        await using var session = Session();

        Assert.Equal("api", await GetTextAsync(session, "never"));
        Assert.Equal("blue", await GetTextAsync(session, "never", new RequestOptions { Headers = new Dictionary<string, string> { ["X-Tenant"] = "blue" } }));
    }

    [Fact]
    public async Task Respond_Sequence_AnswersInTurnThenRepeatsTheLast()
    {
        _upstream.Map(HttpMethod.Get, "/api/flaky")
            .Respond(TestResponse.Status(HttpStatusCode.ServiceUnavailable))
            .Respond(TestResponse.Text("recovered"));
        await using var session = Session();

        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            await using var response = await session.GetAsync("flaky");
            statuses.Add(response.Status);
        }

        Assert.Equal([503, 200, 200], statuses);
    }

    [Fact]
    public async Task Respond_Responder_BuildsTheAnswerFromTheRequest()
    {
        _upstream.Map(r => r.Url.AbsolutePath.StartsWith("/api/item/", StringComparison.Ordinal))
            .Respond(r => TestResponse.Json($$"""{"id":{{r.Url.Segments[^1]}}}"""));
        await using var session = Session();

        Assert.Equal("""{"id":42}""", await GetTextAsync(session, "item/42"));
    }

    [Fact]
    public async Task Requests_TwoSessionsOnOneUpstream_AreToldApartByName()
    {
        await using var bulk = Session();
        await using var priority = new ClientSession("priority", new ClientSessionOptions { BaseAddress = Base }.UseTestUpstream(_upstream), _time);

        (await bulk.GetAsync("a")).Dispose();
        (await priority.GetAsync("b")).Dispose();

        Assert.Equal(["bulk", "priority"], _upstream.Requests.Select(r => r.SessionName));
    }

    [Fact]
    public async Task HeadersDelay_LimitOne_SecondRequestWaitsInTheQueue()
    {
        _upstream.Map(HttpMethod.Get, "/api/slow").Respond(TestResponse.Text("done") with { HeadersDelay = TimeSpan.FromSeconds(10) });
        await using var session = Session(new ClientSessionOptions { BaseAddress = Base, Limit = 1 });

        var first = session.GetAsync("slow");
        var second = session.GetAsync("slow");
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);

        // Production behaviour: one slot in use, one request queued, and nothing answered before the delay.
        var stats = session.Connector.Stats;
        Assert.Equal((1, 1), (stats.InUse, stats.Waiting));
        Assert.False(first.IsCompleted);
        Assert.Single(_upstream.Requests);

        _time.Advance(TimeSpan.FromSeconds(10));
        await using (var response = await first.WaitAsync(Patience))
        {
            Assert.Equal("done", await response.ReadAsStringAsync());
        }

        // The released slot went to the queued request, whose own delay now runs.
        await _upstream.WaitForRequestsAsync(2).WaitAsync(Patience);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        _time.Advance(TimeSpan.FromSeconds(10));
        await using (var response = await second.WaitAsync(Patience))
        {
            Assert.Equal("done", await response.ReadAsStringAsync());
        }

        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task HeadersDelay_LongerThanTotal_ThrowsTotalTimeoutException()
    {
        _upstream.Map(HttpMethod.Get, "/api/never").Respond(TestResponse.Text("late") with { HeadersDelay = Timeout.InfiniteTimeSpan });
        await using var session = Session(new ClientSessionOptions { BaseAddress = Base, Timeout = { Total = TimeSpan.FromSeconds(5) } });

        var pending = session.GetAsync("never");
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        _time.Advance(TimeSpan.FromSeconds(5));

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => pending.WaitAsync(Patience));
        Assert.Equal(TimeSpan.FromSeconds(5), error.Timeout);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task HeadersDelay_CallerCancels_ThrowsOperationCanceledAndFreesTheSlot()
    {
        _upstream.Map(HttpMethod.Get, "/api/slow").Respond(TestResponse.Text("late") with { HeadersDelay = TimeSpan.FromMinutes(1) });
        await using var session = Session();
        using var cancel = new CancellationTokenSource();

        var pending = session.GetAsync("slow", cancellationToken: cancel.Token);
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ChunkDelay_TotalElapsesMidBody_ReadThrowsTotalTimeoutException()
    {
        _upstream.Map(HttpMethod.Get, "/api/slow-body")
            .Respond(TestResponse.Text("0123456789") with { ChunkSize = 5, ChunkDelay = TimeSpan.FromSeconds(10) });
        await using var session = Session(new ClientSessionOptions { BaseAddress = Base, Timeout = { Total = TimeSpan.FromSeconds(5) } });

        await using var response = await session.GetAsync("slow-body");
        var body = await response.ReadAsStreamAsync();
        var buffer = new byte[10];
        Assert.Equal(5, await body.ReadAsync(buffer));
        var rest = body.ReadAsync(buffer.AsMemory(5)).AsTask();
        Assert.False(rest.IsCompleted);

        _time.Advance(TimeSpan.FromSeconds(6));

        await Assert.ThrowsAsync<TotalTimeoutException>(() => rest.WaitAsync(Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ChunkDelay_LongerThanSockRead_ReadThrowsSocketReadTimeoutException()
    {
        _upstream.Map(HttpMethod.Get, "/api/slow-body")
            .Respond(TestResponse.Text("0123456789") with { ChunkSize = 5, ChunkDelay = TimeSpan.FromSeconds(10) });
        await using var session = Session(new ClientSessionOptions { BaseAddress = Base, Timeout = { SockRead = TimeSpan.FromSeconds(2) } });

        await using var response = await session.GetAsync("slow-body");
        var body = await response.ReadAsStreamAsync();
        var buffer = new byte[10];
        Assert.Equal(5, await body.ReadAsync(buffer));
        var rest = body.ReadAsync(buffer.AsMemory(5)).AsTask();
        _time.Advance(TimeSpan.FromSeconds(3));

        await Assert.ThrowsAsync<SocketReadTimeoutException>(() => rest.WaitAsync(Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ChunkDelay_Advanced_DeliversTheWholeBodyInChunks()
    {
        _upstream.Map(HttpMethod.Get, "/api/chunks")
            .Respond(TestResponse.Text("aaabbbccc") with { ChunkSize = 3, ChunkDelay = TimeSpan.FromSeconds(1), DeclaresLength = false });
        await using var session = Session();

        await using var response = await session.GetAsync("chunks");
        Assert.Null(response.ContentHeaders.ContentLength);
        var chunks = new List<string>();
        await using var body = await response.ReadAsStreamAsync();
        var buffer = new byte[100];
        for (var i = 0; i < 10; i++)
        {
            var read = body.ReadAsync(buffer);
            if (!read.IsCompleted)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
            }

            var count = await read.AsTask().WaitAsync(Patience);
            if (count == 0)
            {
                break;
            }

            chunks.Add(Encoding.UTF8.GetString(buffer, 0, count));
        }

        Assert.Equal(["aaa", "bbb", "ccc"], chunks);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Fault_ResetOnceBeforeHeaders_IdempotentRequestIsSentAgain()
    {
        var route = _upstream.Map(HttpMethod.Get, "/api/stale")
            .Respond(TestResponse.Failure(TestFault.Reset))
            .Respond(TestResponse.Text("fresh"));
        await using var session = Session();

        // As with a kept-alive connection the server has just dropped: the GET goes once more, with its slot (the
        // transport resends a request without a body; the session resends an idempotent one with a body).
        Assert.Equal("fresh", await GetTextAsync(session, "stale"));
        Assert.Equal(2, route.Requests.Count);
    }

    [Theory]
    [InlineData(TestFault.Reset)]
    [InlineData(TestFault.Close)]
    public async Task Fault_BeforeHeaders_ThrowsServerDisconnectedExceptionAfterTheRetriesOfProduction(TestFault fault)
    {
        var get = _upstream.Map(HttpMethod.Get, "/api/broken").Respond(TestResponse.Failure(fault));
        var put = _upstream.Map(HttpMethod.Put, "/api/broken").Respond(TestResponse.Failure(fault));
        var post = _upstream.Map(HttpMethod.Post, "/api/broken").Respond(TestResponse.Failure(fault));
        await using var session = Session();

        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.GetAsync("broken"));
        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.PutAsync("broken", new StringContent("x")));
        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.PostAsync("broken", new StringContent("x")));

        // As over real sockets: a GET 4 times (the transport's 3 retries), a PUT twice (the session's), a POST once.
        Assert.Equal(4, get.Requests.Count);
        Assert.Equal(2, put.Requests.Count);
        Assert.Single(post.Requests);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Fault_CloseMidBody_ReadThrowsClientPayloadException()
    {
        _upstream.Map(HttpMethod.Get, "/api/truncated")
            .Respond(TestResponse.Bytes(new byte[1000]) with { Fault = TestFault.Close, FaultAfterBodyBytes = 100 });
        await using var session = Session();

        await using var response = await session.GetAsync("truncated");
        Assert.Equal(1000, response.ContentHeaders.ContentLength);

        await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadAsBytesAsync());
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Fault_ResetMidBody_ReadThrowsClientPayloadExceptionWithTheDisconnectInside()
    {
        _upstream.Map(HttpMethod.Get, "/api/reset")
            .Respond(TestResponse.Bytes(new byte[1000]) with { Fault = TestFault.Reset, FaultAfterBodyBytes = 10 });
        await using var session = Session();

        await using var response = await session.GetAsync("reset");
        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadAsStringAsync());

        // As with a real socket: a body cut short is a payload error, with the disconnect as its cause.
        var disconnect = Assert.IsType<ServerDisconnectedException>(error.InnerException);
        Assert.Contains("reset", disconnect.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Response_DroppedWithoutRelease_SlotIsReclaimedWhenCollected()
    {
        _upstream.Map(HttpMethod.Get, "/api/big").Respond(TestResponse.Bytes(new byte[100_000]));
        await using var session = Session(new ClientSessionOptions { BaseAddress = Base, Limit = 1 });

        await DropResponseAsync(session, "big");
        Assert.Equal(1, session.Connector.Stats.InUse);
        var queued = session.GetAsync("big");
        Assert.Equal(1, session.Connector.Stats.Waiting);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // The finalizer hands the reclaim to the thread pool: the queued request is admitted once it has run.
        await using var next = await queued.WaitAsync(Patience);
        Assert.Equal(100_000, (await next.ReadAsBytesAsync()).Length);
    }

    [Fact]
    public async Task Redirect_WithCookie_IsFollowedAndTheCookieSentBack()
    {
        _upstream.Map(HttpMethod.Get, "/api/login").Respond(TestResponse.Redirect("/api/home") with
        {
            Headers = new Dictionary<string, string> { ["Location"] = "/api/home", ["Set-Cookie"] = "sid=s3cr3t; Path=/" },
        });
        _upstream.Map(HttpMethod.Get, "/api/home").Respond(TestResponse.Text("welcome"));
        await using var session = Session();

        await using var response = await session.GetAsync("login");

        Assert.Equal("welcome", await response.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Found, Assert.Single(response.History).StatusCode);
        Assert.Equal("sid=s3cr3t", _upstream.Requests[1].Headers["Cookie"]);
    }

    [Fact]
    public async Task Body_Gzipped_IsDecodedByTheSession()
    {
        var text = new string('x', 10_000);
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        _upstream.Map(HttpMethod.Get, "/api/zipped").Respond(TestResponse.Bytes(compressed.ToArray(), "text/plain") with
        {
            Headers = new Dictionary<string, string> { ["Content-Encoding"] = "gzip" },
        });
        await using var session = Session();

        Assert.Equal(text, await GetTextAsync(session, "zipped"));
        Assert.Contains("gzip", _upstream.Requests[0].Headers["Accept-Encoding"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_WithDeclaredLength_HasNoBody()
    {
        _upstream.Map(HttpMethod.Head, "/api/file").Respond(TestResponse.Bytes(new byte[500]));
        await using var session = Session();

        await using var response = await session.HeadAsync("file");

        Assert.Equal(500, response.ContentHeaders.ContentLength);
        Assert.Empty(await response.ReadAsBytesAsync());
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task WaitForRequestsAsync_CountReachedOrCancelled_Completes()
    {
        await using var session = Session();
        (await session.GetAsync("a")).Dispose();
        using var cancel = new CancellationTokenSource();

        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        var never = _upstream.WaitForRequestsAsync(2, cancel.Token);
        Assert.False(never.IsCompleted);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => never);
    }

    [Fact]
    public void Map_BadArguments_Throw()
    {
        Assert.Throws<ArgumentNullException>(() => _upstream.Map(null!, "/x"));
        Assert.Throws<ArgumentException>(() => _upstream.Map(HttpMethod.Get, ""));
        Assert.Throws<ArgumentNullException>(() => _upstream.Map((Func<TestRequest, bool>)null!));
        Assert.Throws<ArgumentNullException>(() => _upstream.Map(HttpMethod.Get, "/x").Respond((TestResponse)null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = _upstream.WaitForRequestsAsync(-1); });
    }

    private ClientSession Session(ClientSessionOptions? options = null)
        => new("bulk", (options ?? new ClientSessionOptions { BaseAddress = Base }).UseTestUpstream(_upstream), _time);

    private static async Task<string> GetTextAsync(ClientSession session, string url, RequestOptions? options = null)
    {
        await using var response = await session.GetAsync(url, options);
        return await response.ReadAsStringAsync();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DropResponseAsync(ClientSession session, string url)
    {
        var response = await session.GetAsync(url);
        Assert.Equal(200, response.Status);
    }
}
