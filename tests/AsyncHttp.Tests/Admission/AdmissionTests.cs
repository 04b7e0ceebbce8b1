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
}
