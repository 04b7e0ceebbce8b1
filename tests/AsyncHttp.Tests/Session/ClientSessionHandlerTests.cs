using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Session;

/// <summary>
/// <see cref="ClientSession.CreateHandler"/>: an <see cref="HttpClient"/> over a session shares its connector, and gets
/// its admission, timeouts, release rules, redirects and cookies; each way an <see cref="HttpClient"/> caller can end a
/// response gives the slot back.
/// </summary>
public sealed class ClientSessionHandlerTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    private static HttpClient ClientOf(ClientSession session) => new(session.CreateHandler());

    [Fact]
    public async Task CreateHandler_HttpClientAndSessionCalls_ShareOneLimitAndOneQueue()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 2 });
        using var client = ClientOf(session);
        using var other = ClientOf(session);
        var own = session.GetAsync(_server.Url("hold?id=sh0"));
        var viaClient = client.GetStringAsync(_server.Url("hold?id=sh1"));
        await _server.WhenArrivals(2);

        var queued = other.GetStringAsync(_server.Url("hold?id=sh2"));

        Assert.Equal((2, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        foreach (var id in new[] { "sh0", "sh1", "sh2" })
        {
            _server.Open(id);
        }

        await using (var response = await own.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:sh0", await response.ReadAsStringAsync());
        }

        Assert.Equal("done:sh1", await viaClient.WaitAsync(TestServer.Patience));
        Assert.Equal("done:sh2", await queued.WaitAsync(TestServer.Patience));
        Assert.Equal(2, _server.MaxInFlight);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetStringAsync_ReadsTheBody_AndGivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);

        Assert.Equal("hello", await client.GetStringAsync(_server.Url("ok")));

        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetFromJsonAsync_ReadsTheBody_AndGivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);

        var json = await client.GetFromJsonAsync<JsonElement>(_server.Url("json"));

        Assert.Equal("ada", json.GetProperty("name").GetString());
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetAsync_ResponseContentRead_BuffersWithinTheSlotAndReleasesItAtOnce()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);

        using var response = await client.GetAsync(_server.Url("big?size=200000"));

        // Not disposed yet: the body is in memory, and the slot went back when its last byte was read.
        AssertNothingHeld(session);
        Assert.Equal(200000, (await response.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal(200000, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task GetAsync_ResponseContentHeaders_AreTheServersWithTheLengthAsItsNumber()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);

        using var response = await client.GetAsync(_server.Url("latin1"), HttpCompletionOption.ResponseHeadersRead);

        // "café" in ISO-8859-1 is 4 bytes: the length is the transport's number, and every content header is listed.
        var headers = response.Content.Headers;
        Assert.Equal(4, headers.ContentLength);
        Assert.Equal("iso-8859-1", headers.ContentType?.CharSet);
        var listed = headers.NonValidated.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        Assert.Equal("4", listed["Content-Length"]);
        Assert.Equal("text/plain; charset=iso-8859-1", listed["Content-Type"]);
        Assert.Equal("café", await response.Content.ReadAsStringAsync());
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetAsync_ResponseHeadersRead_HoldsTheSlotUntilTheStreamIsReadToItsEnd()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        var response = await client.GetAsync(_server.Url("big?size=50000"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(1, session.Connector.Stats.InUse);
        var stream = await response.Content.ReadAsStreamAsync();

        var total = 0;
        var buffer = new byte[8192];
        for (var read = -1; read != 0 && total <= 50000; total += read)
        {
            read = await stream.ReadAsync(buffer);
        }

        Assert.Equal(50000, total);
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData("message")]
    [InlineData("content")]
    [InlineData("stream")]
    public async Task GetAsync_ResponseHeadersRead_DisposedUnread_GivesTheSlotBackAndClosesTheConnection(string what)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        var response = await client.GetAsync(_server.Url("big?size=300000"), HttpCompletionOption.ResponseHeadersRead);

        switch (what)
        {
            case "message":
                response.Dispose();
                break;
            case "content":
                response.Content.Dispose();
                break;
            default:
                (await response.Content.ReadAsStreamAsync()).Dispose();
                break;
        }

        AssertNothingHeld(session);
        await _server.WhenNoOpenConnections();
        response.Dispose();
        Assert.Equal("hello", await client.GetStringAsync(_server.Url("ok")));
    }

    [Fact]
    public async Task GetAsync_ResponseDroppedWithoutRelease_IsReclaimedWhenCollected_AndWarns()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("dropped", new ClientSessionOptions { Limit = 1 }, loggerFactory: logs);
        using var client = ClientOf(session);

        await DropResponseAsync(client, _server.Url("big?size=100000&token=secret"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        await Collector.UntilIdleAsync(session);

        AssertNothingHeld(session);
        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains(_server.Url("big").AbsoluteUri, warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", warning.Message, StringComparison.Ordinal);
        Assert.Equal("hello", await client.GetStringAsync(_server.Url("ok")).WaitAsync(TestServer.Patience));
    }

    [Fact]
    public async Task GetAsync_BodyReadToItsEndThenDropped_IsNotReportedAsLeaked()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("tidy", loggerFactory: logs);
        using var client = ClientOf(session);

        await ReadAndDropAsync(client, _server.Url("big?size=1000"));
        GC.Collect();
        GC.WaitForPendingFinalizers();

        AssertNothingHeld(session);
        Assert.DoesNotContain(logs.Entries, e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task EveryWayTheSlotGoesBack_LeavesNothingForTheFinalizer()
    {
        // HttpClient's GetByteArrayAsync and GetStringAsync dispose the body stream, never the response. Once the slot is
        // back the content has nothing left to reclaim, so it must not wait for its finalizer: a finalizer pending keeps
        // the whole response alive through a collection (it cost ~5 µs per request before it was suppressed).
        await using var session = new ClientSession("finalizer");
        using var client = ClientOf(session);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(1000, (await client.GetByteArrayAsync(_server.Url("big?size=1000"))).Length);
            Assert.Equal("hello", await client.GetStringAsync(_server.Url("ok")));
            await StreamAndDropAsync(client, _server.Url("big?size=1000"), readToEnd: true);
            await StreamAndDropAsync(client, _server.Url("big?size=100000"), readToEnd: false);
            await HeadAndDropAsync(client, _server.Url("status/204"));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();

        Assert.Equal(0, session.GuardsFinalized);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task ResponseDroppedWithItsSlot_IsStillFinalized()
    {
        // The control for the test above: a response dropped before its slot went back is what the finalizer is for.
        await using var session = new ClientSession("finalizer");
        using var client = ClientOf(session);

        await DropResponseAsync(client, _server.Url("big?size=100000"));
        await Collector.UntilIdleAsync(session);

        Assert.Equal(1, session.GuardsFinalized);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetAsync_CancelledWhileQueued_GivesOperationCanceledAndConsumesNothing()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        var held = client.GetStringAsync(_server.Url("hold?id=hq0"));
        await _server.WhenArrivals(1);
        using var cts = new CancellationTokenSource();
        var queued = client.GetAsync(_server.Url("hold?id=hq1"), cts.Token);
        Assert.Equal(1, session.Connector.Stats.Waiting);

        await cts.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(cts.Token, error.CancellationToken);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        _server.Open("hq0");
        Assert.Equal("done:hq0", await held.WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
        Assert.DoesNotContain("hq1", _server.Arrivals);
    }

    [Fact]
    public async Task GetAsync_CancelledWhileAwaitingHeaders_GivesOperationCanceledAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        using var cts = new CancellationTokenSource();
        var request = client.GetAsync(_server.Url("hold?id=hh"), cts.Token);
        await _server.WhenArrived("hh");

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request.WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetAsync_CancelledWhileReadingTheBody_GivesOperationCanceledAndTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        using var response = await client.GetAsync(_server.Url("slowbody?id=hb"), HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        using var cts = new CancellationTokenSource();
        var read = stream.ReadAsync(new byte[64], cts.Token).AsTask();

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_TokenCancelledAfterTheHeaders_DoesNotCutTheBody(bool throughHttpClient)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var cts = new CancellationTokenSource();
        using var client = new HttpClient(session.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        using var invoker = new HttpMessageInvoker(session.CreateHandler());
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.Url("slowbody?id=ha" + throughHttpClient));
        using var response = throughHttpClient
            ? await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead)
            : await invoker.SendAsync(request, cts.Token);

        // As with any handler, the send's token covers the send; the body has its reads' own tokens. HttpClient with
        // no timeout and no token of the caller's hands its handler the token CancelPendingRequests cancels.
        if (throughHttpClient)
        {
            client.CancelPendingRequests();
        }
        else
        {
            await cts.CancelAsync();
        }

        _server.Open("ha" + throughHttpClient);

        Assert.Equal("body:ha" + throughHttpClient, await response.Content.ReadAsStringAsync().WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task GetAsync_ThousandMixedCalls_LeaveNothingInUseOrWaiting()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 8, LimitPerHost = 6 });
        using var client = ClientOf(session);
        var refused = $"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/";
        var random = new Random(16);
        var plans = Enumerable.Range(0, 1000).Select(i => (Kind: i % 8, Seed: random.Next())).ToArray();
        var outcomes = new int[8];

        async Task RunAsync(int kind, int seed)
        {
            var r = new Random(seed);
            using var cts = new CancellationTokenSource();
            try
            {
                switch (kind)
                {
                    case 0:
                        await client.GetStringAsync(_server.Url("big?size=3000"));
                        break;
                    case 1:
                        await client.GetFromJsonAsync<JsonElement>(_server.Url("json"));
                        break;
                    case 2: // headers only, disposed unread
                        (await client.GetAsync(_server.Url("big?size=300000"), HttpCompletionOption.ResponseHeadersRead)).Dispose();
                        break;
                    case 3: // streamed to the end, never disposed
                        var streamed = await client.GetAsync(_server.Url("big?size=20000"), HttpCompletionOption.ResponseHeadersRead);
                        await (await streamed.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null);
                        break;
                    case 4:
                        await client.GetAsync(refused);
                        break;
                    case 5:
                        await client.GetAsync(_server.Url("resetbody"));
                        break;
                    case 6: // cancelled while queued, connecting or awaiting headers
                        var pending = client.GetAsync(_server.Url("big?size=100"), cts.Token);
                        for (var i = r.Next(3); i > 0; i--)
                        {
                            await Task.Yield();
                        }

                        await cts.CancelAsync();
                        (await pending).Dispose();
                        break;
                    default: // cancelled while reading the body
                        using (var body = await client.GetAsync(_server.Url("big?size=500000"), HttpCompletionOption.ResponseHeadersRead))
                        {
                            var stream = await body.Content.ReadAsStreamAsync();
                            await stream.ReadAtLeastAsync(new byte[1024], 1, cancellationToken: cts.Token);
                            await cts.CancelAsync();
                            await stream.ReadAtLeastAsync(new byte[1024], 1, cancellationToken: cts.Token);
                        }

                        break;
                }

                Interlocked.Increment(ref outcomes[kind]);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                Interlocked.Increment(ref outcomes[kind]);
            }
        }

        await Task.WhenAll(plans.Select(p => Task.Run(() => RunAsync(p.Kind, p.Seed)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(1000, outcomes.Sum());
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Total_FiresWhileAnHttpClientCallerStreamsAStalledBody()
    {
        var time = new SignalingTimeProvider();
        var total = TimeSpan.FromSeconds(10);
        await using var session = new ClientSession("t", new ClientSessionOptions { Timeout = { Total = total } }, time);
        using var client = ClientOf(session);
        using var response = await client.GetAsync(_server.Url("slowbody?id=ht"), HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var read = stream.ReadAsync(new byte[64]).AsTask();

        time.Advance(total);

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => read.WaitAsync(TestServer.Patience));
        Assert.Equal(total, error.Timeout);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task SockRead_FiresOnAStalledChunk()
    {
        var time = new SignalingTimeProvider();
        var sockRead = TimeSpan.FromSeconds(10);
        await using var session = new ClientSession("t", new ClientSessionOptions { Timeout = { Total = null, SockRead = sockRead } }, time);
        using var client = ClientOf(session);
        using var response = await client.GetAsync(_server.Url("chunks?id=hc&count=3"), HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        var first = stream.ReadAsync(buffer).AsTask();
        time.Advance(TimeSpan.FromSeconds(9));
        _server.ReleaseChunk("hc");
        Assert.Equal("chunk0;", System.Text.Encoding.ASCII.GetString(buffer, 0, await first.WaitAsync(TestServer.Patience)));

        var stalled = stream.ReadAsync(buffer).AsTask();
        time.Advance(sockRead);

        var error = await Assert.ThrowsAsync<SocketReadTimeoutException>(() => stalled.WaitAsync(TestServer.Patience));
        Assert.Equal(sockRead, error.Timeout);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task HttpClientTimeout_ShorterThanTotal_WinsWithItsOwnException()
    {
        // The session's clock never moves: only HttpClient's own timer can end this request.
        var time = new SignalingTimeProvider();
        await using var session = new ClientSession("t", new ClientSessionOptions { Limit = 1, Timeout = { Total = TimeSpan.FromSeconds(1) } }, time);
        using var client = new HttpClient(session.CreateHandler()) { Timeout = TimeSpan.FromMilliseconds(200) };

        var error = await Assert.ThrowsAsync<TaskCanceledException>(() => client.GetAsync(_server.Url("hold?id=hto")).WaitAsync(TestServer.Patience));

        Assert.IsType<TimeoutException>(error.InnerException);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task HttpClientTimeout_CoversBufferingTheBody()
    {
        var time = new SignalingTimeProvider();
        await using var session = new ClientSession("t", new ClientSessionOptions { Limit = 1 }, time);
        using var client = new HttpClient(session.CreateHandler()) { Timeout = TimeSpan.FromMilliseconds(200) };

        var error = await Assert.ThrowsAsync<TaskCanceledException>(() => client.GetAsync(_server.Url("slowbody?id=htb")).WaitAsync(TestServer.Patience));

        Assert.IsType<TimeoutException>(error.InnerException);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task RequestOptionsTimeout_ReplacesTheSessionsTimeoutForThatRequest()
    {
        var time = new SignalingTimeProvider();
        await using var session = new ClientSession("t", new ClientSessionOptions { Timeout = { Total = TimeSpan.FromMinutes(5) } }, time);
        using var client = ClientOf(session);
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.Url("hold?id=hrt"));
        var total = TimeSpan.FromSeconds(3);
        request.Options.Set(ClientRequestOptionKeys.Timeout, new ClientTimeout { Total = total });
        var sent = client.SendAsync(request);
        await _server.WhenArrived("hrt");

        time.Advance(total);

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => sent.WaitAsync(TestServer.Patience));
        Assert.Equal(total, error.Timeout);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task QueueFull_IsAnHttpRequestExceptionNamedQueueFullException()
    {
        await using var session = new ClientSession("bulk", new ClientSessionOptions { Limit = 1, QueueLimit = 1 });
        using var client = ClientOf(session);
        var held = client.GetStringAsync(_server.Url("hold?id=qf0"));
        await _server.WhenArrivals(1);
        var queued = client.GetStringAsync(_server.Url("hold?id=qf1"));

        HttpRequestException caught = await Assert.ThrowsAsync<QueueFullException>(() => client.GetStringAsync(_server.Url("hold?id=qf2")));

        Assert.Equal("bulk", ((QueueFullException)caught).SessionName);
        _server.Open("qf0");
        _server.Open("qf1");
        await Task.WhenAll(held, queued).WaitAsync(TestServer.Patience);
        AssertNothingHeld(session);
        Assert.DoesNotContain("qf2", _server.Arrivals);
    }

    [Fact]
    public async Task Dispose_HandlerOrHttpClient_NeverClosesTheSession_AndADisposedHandlerRefusesNewRequests()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        var handler = session.CreateHandler();
        using (var client = new HttpClient(handler))
        {
            Assert.Equal("hello", await client.GetStringAsync(_server.Url("ok")));
        }

        Assert.False(session.IsClosed);
        using var invoker = new HttpMessageInvoker(handler);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, _server.Url("ok")), default));
        await using var response = await session.GetAsync(_server.Url("ok"));
        Assert.Equal("hello", await response.ReadAsStringAsync());
        using var another = ClientOf(session);
        Assert.Equal("hello", await another.GetStringAsync(_server.Url("ok")));
    }

    [Fact]
    public async Task SessionClosed_NewCallsThrowObjectDisposed_QueuedOnesSessionClosed()
    {
        var session = new ClientSession("closing", new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        var inFlight = client.GetAsync(_server.Url("hold?id=cl0"));
        await _server.WhenArrivals(1);
        var queued = client.GetAsync(_server.Url("hold?id=cl1"));

        await session.DisposeAsync();

        var closed = await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.Equal("closing", closed.SessionName);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => inFlight);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetAsync(_server.Url("ok")));
        AssertNothingHeld(session);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Headers_RequestThenHttpClientDefaultsThenTheSessions()
    {
        var options = new ClientSessionOptions();
        options.Headers["X-A"] = "session";
        options.Headers["X-B"] = "session";
        await using var session = new ClientSession(options);
        using var client = ClientOf(session);
        client.DefaultRequestHeaders.Add("X-A", "client");
        client.DefaultRequestHeaders.Add("X-C", "client");
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.Url("headers"));
        request.Headers.Add("X-C", "request");

        using var response = await client.SendAsync(request);
        var headers = (await response.Content.ReadAsStringAsync()).Split('\n');

        Assert.Contains("X-A: client", headers);
        Assert.Contains("X-B: session", headers);
        Assert.Contains("X-C: request", headers);
    }

    [Fact]
    public async Task BaseAddress_HttpClientsWins_TheSessionsResolvesWhatItLeavesRelative()
    {
        await using var session = new ClientSession(new ClientSessionOptions { BaseAddress = _server.Url("echo/session/") });
        using var client = new HttpClient(session.CreateHandler()) { BaseAddress = _server.Url("echo/client/") };
        using var invoker = new HttpMessageInvoker(session.CreateHandler());

        Assert.Equal("/echo/client/x", await client.GetStringAsync("x"));
        using var relative = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri("x", UriKind.Relative)), default);
        Assert.Equal("/echo/session/x", await relative.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task MaxResponseContentBufferSize_HttpClientsBoundsWhatHttpClientBuffers_AndTheSlotGoesBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1, MaxResponseContentBufferSize = 1_000_000 });
        using var client = new HttpClient(session.CreateHandler()) { MaxResponseContentBufferSize = 1000 };

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(_server.Url("big?size=5000")));

        Assert.Contains("1000", error.Message, StringComparison.Ordinal);
        AssertNothingHeld(session);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Redirects_FollowedByTheSession_RequestMessageCarriesTheFinalUrl()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);

        using var response = await client.GetAsync(_server.Url("chain/3"));

        Assert.Equal("end", await response.Content.ReadAsStringAsync());
        Assert.Equal(_server.Url("chain/0"), response.RequestMessage!.RequestUri);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task AllowRedirects_OffInTheRequestOptions_ReturnsTheRedirectItself()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        using var client = ClientOf(session);
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.Url("chain/2"));
        request.Options.Set(ClientRequestOptionKeys.AllowRedirects, false);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/chain/1", response.Headers.Location!.OriginalString);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task RaiseForStatus_OnTheSession_ThrowsResponseStatusException_AndGivesTheSlotBack()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1, RaiseForStatus = true });
        using var client = ClientOf(session);

        var error = await Assert.ThrowsAsync<ResponseStatusException>(() => client.GetAsync(_server.Url("status/404")));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    public async Task Decompression_TheSessionDecodesWithinItsCap_ForHttpClientCallers(string encoding)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1, MaxDecompressedContentSize = 10_000 });
        using var client = ClientOf(session);

        using (var response = await client.GetAsync(_server.Url($"compressed?encoding={encoding}&size=5000")))
        {
            Assert.Equal(5000, (await response.Content.ReadAsByteArrayAsync()).Length);
            Assert.Empty(response.Content.Headers.ContentEncoding);
        }

        await Assert.ThrowsAsync<ClientPayloadException>(() => client.GetAsync(_server.Url($"compressed?encoding={encoding}&size=50000")));
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Reconfigure_TheHandlerFollowsTheSessionsNewSettings()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 2 });
        using var client = ClientOf(session);
        Assert.DoesNotContain("X-Generation", await client.GetStringAsync(_server.Url("headers")), StringComparison.Ordinal);
        var changed = new ClientSessionOptions { Limit = 2, KeepAliveTimeout = TimeSpan.FromSeconds(3) };
        changed.Headers["X-Generation"] = "2";

        session.Reconfigure(changed);

        Assert.Contains("X-Generation: 2", (await client.GetStringAsync(_server.Url("headers"))).Split('\n'));
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Middlewares_WrapEachHandlerRequest_AndItsSlotStillGoesBack()
    {
        var seen = 0;
        await using var session = new ClientSession("mw", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new Counting(() => Interlocked.Increment(ref seen))]);
        using var client = ClientOf(session);

        Assert.Equal("end", await client.GetStringAsync(_server.Url("chain/1")));
        var streamed = await client.GetAsync(_server.Url("big?size=100000"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(1, session.Connector.Stats.InUse);
        streamed.Dispose();

        Assert.Equal(3, seen); // two hops, then one request
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Cookies_AMessageSentAgain_SendsItsOwnCookiesOnceAndTheJarsAsTheyAreNow()
    {
        await using var session = new ClientSession(new ClientSessionOptions { UseCookies = true, UnsafeCookies = true });
        using var client = ClientOf(session);
        Assert.Equal("set", await client.GetStringAsync(_server.Url("setcookie?cookie=jar%3D1")));
        using var invoker = new HttpMessageInvoker(session.CreateHandler());
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.Url("cookies/a"));
        request.Headers.Add("Cookie", "own=0");

        using (var first = await invoker.SendAsync(request, default))
        {
            Assert.Equal("own=0; jar=1", await first.Content.ReadAsStringAsync());
        }

        Assert.Equal("own=0", string.Join("; ", request.Headers.GetValues("Cookie")));
        Assert.Equal("set", await client.GetStringAsync(_server.Url("setcookie?cookie=jar%3D2")));
        using var second = await invoker.SendAsync(request, default);
        Assert.Equal("own=0; jar=2", await second.Content.ReadAsStringAsync());
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DropResponseAsync(HttpClient client, Uri url)
    {
        var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Reads the body stream to its end (or not) and disposes it, never the response.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task StreamAndDropAsync(HttpClient client, Uri url, bool readToEnd)
    {
        var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        await using (var stream = await response.Content.ReadAsStreamAsync())
        {
            if (readToEnd)
            {
                await stream.CopyToAsync(Stream.Null);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task HeadAndDropAsync(HttpClient client, Uri url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, url);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task ReadAndDropAsync(HttpClient client, Uri url)
    {
        var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(1000, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    private sealed class Counting(Action onSend) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onSend();
            return base.SendAsync(request, cancellationToken);
        }
    }
}
