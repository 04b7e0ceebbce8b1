using System.Diagnostics;
using System.Diagnostics.Metrics;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// The one admission path for what the session did not build itself: a middleware's own messages (no request context)
/// give their slot back when they fail, and a response without a body is neither decoded nor left unfinished.
/// </summary>
public sealed class AdmissionTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Sends messages of its own first (a token fetch, a probe), then passes the request on.</summary>
    private sealed class OwnMessageHandler(Func<Func<HttpRequestMessage, Task<HttpResponseMessage>>, Task> before) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await before(own => base.SendAsync(own, cancellationToken));
            return await base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class PassThroughHandler : DelegatingHandler;

    [Fact]
    public async Task SendAsync_AMiddlewaresOwnMessageFails_GivesItsSlotBackAndItsOwnError()
    {
        var refused = new Uri($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/");
        Exception? failure = null;
        int? inUseAfter = null;
        ClientSession session = null!;
        session = new ClientSession("own", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new OwnMessageHandler(async send =>
        {
            using var own = new HttpRequestMessage(HttpMethod.Get, refused);
            failure = await Record.ExceptionAsync(() => send(own));
            inUseAfter = session.Connector.Stats.InUse;
        })]);
        await using (session)
        {
            // Limit = 1: the request itself gets a slot only if the failed message gave its own back.
            await using var response = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);

            Assert.Equal("hello", await response.ReadAsStringAsync());
            Assert.IsType<HttpRequestException>(failure, exactMatch: false);
            Assert.Equal(0, inUseAfter);
            Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        }
    }

    [Fact]
    public async Task ReadAsync_AMiddlewaresOwnBodyFailsMidway_GivesTheSlotBackWithoutADispose()
    {
        Exception? failure = null;
        int? inUseAfter = null;
        var kept = new List<HttpResponseMessage>();
        ClientSession session = null!;
        session = new ClientSession("own", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new OwnMessageHandler(async send =>
        {
            // Kept, never disposed: the failed read alone must give the slot back.
            var own = await send(new HttpRequestMessage(HttpMethod.Get, _server.Url("resetbody?id=own")));
            kept.Add(own);
            var body = await own.Content.ReadAsStreamAsync();
            _server.Open("own");
            var buffer = new byte[64];
            failure = await Record.ExceptionAsync(async () =>
            {
                for (var i = 0; i < 1000 && await body.ReadAsync(buffer) > 0; i++)
                {
                }
            });
            inUseAfter = session.Connector.Stats.InUse;
        })]);
        await using (session)
        {
            await using var response = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);

            // A message the session did not build gets the transport's own error, untranslated.
            Assert.Equal("hello", await response.ReadAsStringAsync());
            Assert.IsType<IOException>(failure, exactMatch: false);
            Assert.Equal(0, inUseAfter);
            Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
            GC.KeepAlive(kept);
        }
    }

    /// <summary>Notes the request's content before and after the hop below it, as a retrying middleware would resend it.</summary>
    private sealed class ContentWatchingHandler : DelegatingHandler
    {
        public List<(HttpContent? Before, HttpContent? After)> Seen { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var before = request.Content;
            var response = await base.SendAsync(request, cancellationToken);
            Seen.Add((before, request.Content));
            return response;
        }
    }

    [Fact]
    public async Task SendAsync_AMiddlewaresOwnMessageAtDefaultVersion_GoesWithTheConnectorsVersion()
    {
        HttpRequestMessage? own = null;
        await using var session = new ClientSession(
            "own",
            new ClientSessionOptions { Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower },
            middlewares: [() => new OwnMessageHandler(async send =>
            {
                own = new HttpRequestMessage(HttpMethod.Get, _server.Url("ok"));
                using var response = await send(own);
                Assert.Equal(200, (int)response.StatusCode);
            })]);

        await using (var response = await session.GetAsync(_server.Url("ok")))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        // HTTP/2 asked, HTTP/1.1 accepted: what the session's own requests get (a cleartext server answers in 1.1).
        Assert.Equal((System.Net.HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower), (own!.Version, own.VersionPolicy));
        own.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetAsync_QueuedRequest_ItsQueueWaitSpanCountsThePermitsItTook(bool limited)
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "AsyncHttp",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                lock (spans)
                {
                    spans.Add(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        using var limiter = new System.Threading.RateLimiting.ConcurrencyLimiter(new() { PermitLimit = 5, QueueLimit = 1 });
        var name = limited ? "permits-limited" : "permits-plain";
        var options = new ClientSessionOptions { Limit = 1 };
        if (limited)
        {
            options.Limiters.Add(AdmissionLimiter.Create(limiter));
        }

        await using var session = new ClientSession(name, options);
        var first = session.GetAsync(_server.Url($"hold?id={name}0"));
        await _server.WhenArrivals(1);
        var second = session.GetAsync(_server.Url($"hold?id={name}1"));
        _server.Open($"{name}0");
        _server.Open($"{name}1");
        (await first).Dispose();
        (await second).Dispose();

        Activity span;
        lock (spans)
        {
            span = Assert.Single(spans, s => s.OperationName == "asynchttp.queue.wait" && Equals(s.GetTagItem("asynchttp.session"), name));
        }

        Assert.Equal(limited ? 1 : 0, span.GetTagItem("asynchttp.permits"));
    }

    [Fact]
    public async Task SendAsync_BodyWithSockRead_TheHopGivesTheRequestItsOwnContentBack()
    {
        var watcher = new ContentWatchingHandler();
        await using var session = new ClientSession(
            "upload",
            new ClientSessionOptions { Timeout = new ClientTimeout { SockRead = TimeSpan.FromMinutes(5) } },
            middlewares: [() => watcher]);
        using var content = new StringContent("payload");

        await using var response = await session.PostAsync(_server.Url("method").AbsoluteUri, content);

        Assert.Equal("POST text/plain; charset=utf-8 payload", await response.ReadAsStringAsync());
        var (before, after) = Assert.Single(watcher.Seen);
        Assert.Same(content, before);
        Assert.Same(content, after);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HeadAsync_OfACompressedResource_KeepsItsContentEncodingAndLength(bool middleware)
    {
        await using var session = new ClientSession("head", middlewares: middleware ? [static () => new PassThroughHandler()] : null);

        // The session decodes compressed bodies; a HEAD response has none, so its headers stay as the server sent them.
        await using var response = await session.HeadAsync(_server.Url("compressed?encoding=gzip&size=5000").AbsoluteUri);

        Assert.Equal(200, response.Status);
        Assert.Equal(["gzip"], response.ContentHeaders.ContentEncoding);
        Assert.True(response.ContentHeaders.ContentLength > 0, $"Content-Length: {response.ContentHeaders.ContentLength}");
        Assert.True(response.IsReleased);
        Assert.Empty(await response.ReadAsBytesAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HeadAsync_ResponseNeverDisposed_CompletesTheRequestAtTheHeaders(bool middleware)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var duration = new MetricCollector<double>(meters, "AsyncHttp", "asynchttp.client.request.duration");
        await using var session = new ClientSession("bodiless", middlewares: middleware ? [static () => new PassThroughHandler()] : null, meterFactory: meters);

        // Released at its headers, before the request watched its slot: the request ends there all the same.
        var response = await session.HeadAsync(_server.Url("big?size=5000").AbsoluteUri);

        var measurement = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal(200, measurement.Tags["http.response.status_code"]);
        Assert.Equal("HEAD", measurement.Tags["http.request.method"]);
        Assert.True(response.IsReleased);
        GC.KeepAlive(response);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_TotalFiresWhileTheCallersContentIgnoresCancellation_GivesTheSlotBackAtOnce(bool middleware)
    {
        // The hop holds the request's slot: the timeout gives it back as it fires, without waiting for a send stuck in
        // content that ignores the token (the transport closes the connection in the same cancellation).
        var total = TimeSpan.FromSeconds(5);
        var time = new SignalingTimeProvider();
        await using var server = new FaultServer();
        await using var session = new ClientSession(
            "stuck",
            new ClientSessionOptions { Limit = 1, Timeout = new ClientTimeout { Total = total } },
            time,
            middlewares: middleware ? [static () => new PassThroughHandler()] : null);
        using var content = new StuckContent();
        var request = session.PutAsync(server.Url(FaultServer.NeverAnswers).AbsoluteUri, content);
        await content.WhenStarted;

        time.Advance(total);

        Assert.False(request.IsCompleted, "the send is still in the caller's content");
        Assert.Equal(0, session.Connector.Stats.InUse);
        content.Release();
        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(total, error.Timeout);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await server.WhenAllSocketsClosed();
    }

    /// <summary>Content that, once the transport asks for it, waits for <see cref="Release"/> whatever the token says.</summary>
    private sealed class StuckContent : HttpContent
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task WhenStarted => _started.Task.WaitAsync(TestServer.Patience);

        public void Release() => _released.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            _started.TrySetResult();
            await _released.Task.WaitAsync(TestServer.Patience, CancellationToken.None);
            await stream.WriteAsync(new byte[] { 1 }, CancellationToken.None);
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
            => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 1;
            return true;
        }
    }
}
