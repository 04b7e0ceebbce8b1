using AsyncHttp.Tests.Infrastructure;
using Polly;
using Polly.Retry;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// Issue 13, point 9: CR, LF or NUL in any header the library would send is refused at the transport, below the
/// caller's middlewares and on every hop, before a byte leaves: however the header got onto the request.
/// </summary>
public sealed class HeaderGuardTests
{
    public static TheoryData<string, string> Injections()
    {
        var data = new TheoryData<string, string>();
        foreach (var where in new[] { "request", "content", "host", "middleware", "middleware-on-redirect-hop" })
        {
            foreach (var value in new[] { "v\r\nX-Injected: 1", "v\nX-Injected: 1", "v\rX-Injected: 1", "v\0X-Injected: 1" })
            {
                data.Add(where, value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Injections))]
    public async Task SendAsync_HeaderValueWithCrLfOrNul_IsRejectedBeforeAnythingIsSent(string where, string value)
    {
        await using var server = new FaultServer();
        Func<DelegatingHandler>[] middlewares = where switch
        {
            "middleware" => [() => new InjectingHandler("X-Evil", value, onPath: "/ok")],
            "middleware-on-redirect-hop" => [() => new InjectingHandler("X-Evil", value, onPath: "/ok")],
            _ => [],
        };
        await using var session = new ClientSession("guarded", new ClientSessionOptions { Limit = 1 }, middlewares: middlewares);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, where == "middleware-on-redirect-hop" ? "redirect" : FaultServer.Ok))
        {
            Content = new StringContent("body"),
        };
        var header = where switch
        {
            "request" => "X-Evil",
            "content" => "Content-Language",
            "host" => "Host",
            _ => "X-Evil",
        };
        if (where is "request" or "host")
        {
            Assert.True(request.Headers.TryAddWithoutValidation(header, value));
        }
        else if (where == "content")
        {
            Assert.True(request.Content.Headers.TryAddWithoutValidation(header, value));
        }

        var error = await Assert.ThrowsAsync<ArgumentException>(() => session.SendAsync(request).WaitAsync(TestServer.Patience));

        Assert.Contains($"'{header}'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Injected", error.Message, StringComparison.Ordinal);
        Assert.All(server.Heads, head => Assert.DoesNotContain("X-Injected", head, StringComparison.Ordinal));
        Assert.Equal(where == "middleware-on-redirect-hop" ? ["POST /redirect"] : [], server.Heads.Select(h => h.Split(" HTTP/")[0]));
        Assert.Equal(where == "middleware-on-redirect-hop" ? 1 : 0, server.AcceptedConnections);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        // The slot of the refused request came back: with Limit 1, a clean request goes through at once.
        await using var clean = await session.GetAsync(new Uri(server.BaseAddress, $"{FaultServer.Bytes}?size=2")).WaitAsync(TestServer.Patience);
        Assert.Equal("xx", await clean.ReadAsStringAsync());
    }

    [Fact]
    public async Task SendAsync_InjectionBelowARetryMiddleware_IsNotRetried()
    {
        await using var server = new FaultServer();
        var retries = 0;
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                // The predicate resilience handlers use for HttpClient: every HttpRequestException is transient.
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>().Handle<HttpRequestException>(),
                MaxRetryAttempts = 3,
                Delay = TimeSpan.Zero,
                OnRetry = _ =>
                {
                    Interlocked.Increment(ref retries);
                    return default;
                },
            })
            .Build();
        await using var session = new ClientSession(
            "guarded",
            middlewares: [() => new RetryHandler(pipeline), () => new InjectingHandler("X-Evil", "v\r\nX-Injected: 1", onPath: null)]);

        await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync(new Uri(server.BaseAddress, FaultServer.Ok)).WaitAsync(TestServer.Patience));

        Assert.Equal(0, retries);
        Assert.Equal(0, server.AcceptedConnections);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task SendAsync_OrdinaryHeadersOnRequestAndContent_AreSentUntouched()
    {
        await using var server = new FaultServer();
        await using var session = new ClientSession("guarded", middlewares: [() => new InjectingHandler("X-Signed", "sig=1; tab\tkept", onPath: null)]);
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(server.BaseAddress, FaultServer.Ok)) { Content = new StringContent("body") };
        request.Headers.TryAddWithoutValidation("X-Many", ["a", "b"]);
        request.Headers.Accept.ParseAdd("text/plain");
        request.Content.Headers.ContentLanguage.Add("en");

        await using var response = await session.SendAsync(request).WaitAsync(TestServer.Patience);

        Assert.Equal("ok", await response.ReadAsStringAsync());
        var head = Assert.Single(server.Heads);
        Assert.Contains("\r\nX-Signed: sig=1; tab\tkept\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Many: a, b\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nAccept: text/plain\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Language: en\r\n", head, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_RequestWithStringHeaders_AllocatesNothing()
    {
        // What the session builds: headers added as strings, on the request and on its content.
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1/") { Content = new ByteArrayContent([1]) };
        foreach (var name in new[] { "User-Agent", "Accept-Encoding", "X-Tenant", "Authorization", "Cookie", "X-Request-Id" })
        {
            request.Headers.TryAddWithoutValidation(name, "value-of-" + name);
        }

        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        AsyncHttp.Internal.HeaderGuard.Check(request);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            AsyncHttp.Internal.HeaderGuard.Check(request);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>Adds a header with the given raw value, on every hop or only on the hop to <c>onPath</c>.</summary>
    private sealed class InjectingHandler(string name, string value, string? onPath) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (onPath is null || request.RequestUri!.AbsolutePath == onPath)
            {
                request.Headers.Remove(name);
                request.Headers.TryAddWithoutValidation(name, value);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class RetryHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => await pipeline.ExecuteAsync(async ct => await base.SendAsync(request, ct), cancellationToken);
    }
}
