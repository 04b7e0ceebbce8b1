using System.Net;
using AsyncHttp.Tests.Infrastructure;
using Polly;
using Polly.Retry;

namespace AsyncHttp.Tests.Middlewares;

/// <summary>Middlewares are DelegatingHandlers: first added is outermost, once per hop, inside the Total timeout.</summary>
public sealed class MiddlewareTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private sealed class SigningHandler(string name, List<string> calls) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (calls)
            {
                calls.Add($"{name}:{request.RequestUri!.AbsolutePath}");
            }

            request.Headers.Remove("X-Signature");
            request.Headers.Add("X-Signature", $"{name}({request.Method} {request.RequestUri.AbsolutePath})");
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Buffers every response body itself, as a logging or caching middleware would, noting what it saw.</summary>
    private sealed class BufferingHandler(List<string> seen) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            seen.Add($"encoding={string.Join(",", response.Content.Headers.ContentEncoding)} length={response.Content.Headers.ContentLength}");
            return response;
        }
    }

    private sealed class StallingHandler : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }

    private sealed class PollyHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => await pipeline.ExecuteAsync(async ct => await base.SendAsync(request, ct), cancellationToken);
    }

    [Fact]
    public async Task Middlewares_FirstAddedIsOutermost_AndRunOncePerRedirectHop()
    {
        var calls = new List<string>();
        await using var session = new ClientSession("m", middlewares: [() => new SigningHandler("outer", calls), () => new SigningHandler("inner", calls)]);

        await using var response = await session.GetAsync(_server.Url($"redirect?to=/headers"));
        var headers = await response.ReadAsStringAsync();

        Assert.Equal(["outer:/redirect", "inner:/redirect", "outer:/headers", "inner:/headers"], calls);
        Assert.Contains("X-Signature: inner(GET /headers)", headers, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Middleware_ThatStalls_IsBoundByTheTotalTimeout()
    {
        var time = new SignalingTimeProvider();
        await using var session = new ClientSession("m", new ClientSessionOptions { Timeout = { Total = TimeSpan.FromSeconds(4) } }, time, middlewares: [() => new StallingHandler()]);
        var request = session.GetAsync(_server.Url("ok"));

        time.Advance(TimeSpan.FromSeconds(4));

        await Assert.ThrowsAsync<TotalTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task PollyRetry_SecondAttempt_TakesAFreshSlotOfTheLimit()
    {
        var attempts = 0;
        var retry = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 1,
                Delay = TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.StatusCode == HttpStatusCode.ServiceUnavailable),
                OnRetry = _ =>
                {
                    Interlocked.Increment(ref attempts);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

        // Limit 1: the retry can only get a slot if the first attempt's response gave its slot back.
        await using var session = new ClientSession("polly", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new PollyHandler(retry)]);

        await using var response = await session.GetAsync(_server.Url("flaky?id=p1")).WaitAsync(TestServer.Patience);

        Assert.Equal(1, attempts);
        Assert.Equal("recovered", await response.ReadAsStringAsync());
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task Middleware_RunsBeforeAdmission_WhileTheRequestWouldQueue()
    {
        var calls = new List<string>();
        await using var session = new ClientSession("m", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new SigningHandler("mw", calls)]);
        var held = session.GetAsync(_server.Url("hold?id=m1"));
        await _server.WhenArrived("m1");

        var queued = session.GetAsync(_server.Url("hold?id=m2"));

        // The middleware saw the second request although no slot is free: it runs outside admission.
        Assert.Equal(["mw:/hold", "mw:/hold"], calls);
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        _server.Open("m1");
        _server.Open("m2");
        await using (var first = await held.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:m1", await first.ReadAsStringAsync());
        }

        await using var second = await queued.WaitAsync(TestServer.Patience);
        Assert.Equal("done:m2", await second.ReadAsStringAsync());
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Middleware_ThatBuffersACompressedBody_SeesItDecoded_AndTheSlotGoesBackAtItsEnd()
    {
        var seen = new List<string>();
        await using var session = new ClientSession("m", new ClientSessionOptions { Limit = 1 }, middlewares: [() => new BufferingHandler(seen)]);

        await using var response = await session.GetAsync(_server.Url("compressed?encoding=gzip&size=300000"));

        // Read to its end inside the middleware: the slot is back before the caller reads anything.
        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.Equal(["encoding= length=300000"], seen);
        Assert.Equal(300000, (await response.ReadAsBytesAsync()).Length);
        Assert.Empty(response.ContentHeaders.ContentEncoding);
    }
}
