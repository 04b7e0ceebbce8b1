using System.Net;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Retry;

namespace AsyncHttp.Extensions.Tests.HttpClientFactory;

/// <summary>
/// Issue 16: the standard resilience and hedging handlers on top of a session. Each attempt is admitted on its own, the
/// limit holds, and the session's own rejections are neither retried, nor hedged, nor counted by a circuit breaker,
/// whichever of <c>UseClientSession</c> and <c>AddStandard*Handler</c> is called first.
/// </summary>
public sealed class ClientSessionResiliencePredicatesTests
{
    private static readonly HttpRequestException UpstreamFailure = new("connection refused", null, HttpStatusCode.BadGateway);

    private static async Task<IHost> StartHostAsync(Upstream upstream, Action<IServiceCollection> configure, int limit, int queueLimit = 0, LogCapture? logs = null, Action<IClientSessionBuilder>? session = null)
    {
        var builder = TestHosts.CreateBuilder(logs ?? new LogCapture());
        var bulk = builder.Services.AddClientSession("bulk", o =>
        {
            o.Limit = limit;
            o.QueueLimit = queueLimit;
            o.BaseAddress = upstream.BaseAddress;
        });
        session?.Invoke(bulk);
        configure(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static ClientSession Bulk(IHost host) => host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    /// <summary>Registers client "r" on session "bulk" with the standard resilience handler, in either order.</summary>
    private static void AddResilientClient(IServiceCollection services, bool sessionFirst, Action<HttpStandardResilienceOptions> configure)
    {
        var client = services.AddHttpClient("r");
        if (sessionFirst)
        {
            client.UseClientSession("bulk").AddStandardResilienceHandler(configure);
        }
        else
        {
            client.AddStandardResilienceHandler(configure);
            client.UseClientSession("bulk");
        }
    }

    [Fact]
    public void IsSessionRejection_TheSessionsOwnRefusalsOnly()
    {
        Assert.True(ClientSessionResiliencePredicates.IsSessionRejection(new QueueFullException("bulk", 10)));
        Assert.True(ClientSessionResiliencePredicates.IsSessionRejection(new SessionClosedException("bulk")));
        Assert.False(ClientSessionResiliencePredicates.IsSessionRejection(UpstreamFailure));
        Assert.False(ClientSessionResiliencePredicates.IsSessionRejection(new TotalTimeoutException(TimeSpan.FromSeconds(1))));
        Assert.False(ClientSessionResiliencePredicates.IsSessionRejection(null));
    }

    [Fact]
    public void IsTransient_StandardPredicateWithoutTheRejections()
    {
        Assert.False(ClientSessionResiliencePredicates.IsTransient(Outcome.FromException<HttpResponseMessage>(new QueueFullException("bulk", 10))));
        Assert.False(ClientSessionResiliencePredicates.IsTransient(Outcome.FromException<HttpResponseMessage>(new SessionClosedException("bulk"))));
        Assert.True(ClientSessionResiliencePredicates.IsTransient(Outcome.FromException<HttpResponseMessage>(UpstreamFailure)));
        Assert.True(ClientSessionResiliencePredicates.IsTransient(Outcome.FromException<HttpResponseMessage>(new ServerDisconnectedException("gone"))));
        using var unavailable = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var ok = new HttpResponseMessage(HttpStatusCode.OK);
        Assert.True(ClientSessionResiliencePredicates.IsTransient(Outcome.FromResult(unavailable)));
        Assert.False(ClientSessionResiliencePredicates.IsTransient(Outcome.FromResult(ok)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseClientSession_StandardOptions_EveryShouldHandleLeavesRejectionsAlone_AndKeepsTheUsersOwn(bool sessionFirst)
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(
            upstream,
            services =>
            {
                // The user's own retry predicate (418 as well) must survive the post-configuration.
                AddResilientClient(services, sessionFirst, o => o.Retry.ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Result?.StatusCode == (HttpStatusCode)418 || HttpClientResiliencePredicates.IsTransient(args.Outcome)));
                var hedged = services.AddHttpClient("h");
                if (sessionFirst)
                {
                    hedged.UseClientSession("bulk").AddStandardHedgingHandler();
                }
                else
                {
                    hedged.AddStandardHedgingHandler();
                    hedged.UseClientSession("bulk");
                }
            },
            limit: 1);
        var standard = host.Services.GetRequiredService<IOptionsMonitor<HttpStandardResilienceOptions>>().Get("r-standard");
        var hedging = host.Services.GetRequiredService<IOptionsMonitor<HttpStandardHedgingResilienceOptions>>().Get("h");
        var context = ResilienceContextPool.Shared.Get();
        using var teapot = new HttpResponseMessage((HttpStatusCode)418);

        foreach (var exception in new Exception[] { new QueueFullException("bulk", 1), new SessionClosedException("bulk") })
        {
            var rejected = Outcome.FromException<HttpResponseMessage>(exception);
            Assert.False(await standard.Retry.ShouldHandle(new RetryPredicateArguments<HttpResponseMessage>(context, rejected, 0)));
            Assert.False(await standard.CircuitBreaker.ShouldHandle(new CircuitBreakerPredicateArguments<HttpResponseMessage>(context, rejected)));
            Assert.False(await hedging.Hedging.ShouldHandle(new HedgingPredicateArguments<HttpResponseMessage>(context, rejected)));
            Assert.False(await hedging.Endpoint.CircuitBreaker.ShouldHandle(new CircuitBreakerPredicateArguments<HttpResponseMessage>(context, rejected)));
        }

        var failed = Outcome.FromException<HttpResponseMessage>(UpstreamFailure);
        Assert.True(await standard.Retry.ShouldHandle(new RetryPredicateArguments<HttpResponseMessage>(context, failed, 0)));
        Assert.True(await standard.Retry.ShouldHandle(new RetryPredicateArguments<HttpResponseMessage>(context, Outcome.FromResult(teapot), 0)));
        Assert.True(await standard.CircuitBreaker.ShouldHandle(new CircuitBreakerPredicateArguments<HttpResponseMessage>(context, failed)));
        Assert.True(await hedging.Hedging.ShouldHandle(new HedgingPredicateArguments<HttpResponseMessage>(context, failed)));
        Assert.True(await hedging.Endpoint.CircuitBreaker.ShouldHandle(new CircuitBreakerPredicateArguments<HttpResponseMessage>(context, failed)));
        ResilienceContextPool.Shared.Return(context);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StandardResilience_FirstAttemptFails_TheRetryIsAdmittedAgainAndTheLimitHolds(bool sessionFirst)
    {
        await using var upstream = await Upstream.StartAsync();
        var retries = 0;
        var admissions = 0;
        using var host = await StartHostAsync(
            upstream,
            services => AddResilientClient(services, sessionFirst, o =>
            {
                o.Retry.Delay = TimeSpan.Zero;
                o.Retry.OnRetry = _ =>
                {
                    Interlocked.Increment(ref retries);
                    return default;
                };
            }),
            limit: 1,
            session: s => s.AddTrace(_ => new ClientTrace { OnRequestStart = _ => Interlocked.Increment(ref admissions) }));
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("r");

        // With Limit = 1, each failed attempt's response must give its slot back before its retry can be admitted.
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => client.GetStringAsync($"flaky/f{i}"))).WaitAsync(Upstream.Patience);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"recovered f{i}"), results);
        Assert.Equal(5, retries);
        Assert.Equal(10, admissions);
        Assert.Equal(1, upstream.ConnectionsOpened);
        AssertNothingHeld(Bulk(host));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StandardResilience_QueueFull_IsNotRetried(bool sessionFirst)
    {
        await using var upstream = await Upstream.StartAsync();
        var retries = 0;
        using var host = await StartHostAsync(
            upstream,
            services => AddResilientClient(services, sessionFirst, o =>
            {
                o.Retry.Delay = TimeSpan.Zero;
                o.Retry.OnRetry = _ =>
                {
                    Interlocked.Increment(ref retries);
                    return default;
                };
            }),
            limit: 1,
            queueLimit: 1);
        var session = Bulk(host);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("r");
        var held = client.GetStringAsync("slot/q0");
        await upstream.WhenSlotArrivals(1);
        var queued = client.GetStringAsync("slot/q1");

        var error = await Assert.ThrowsAsync<QueueFullException>(() => client.GetStringAsync("slot/q2"));

        Assert.Equal("bulk", error.SessionName);
        Assert.Equal(0, retries);
        upstream.OpenSlots();
        Assert.Equal(["slot q0", "slot q1"], await Task.WhenAll(held, queued).WaitAsync(Upstream.Patience));
        Assert.DoesNotContain("/slot/q2", upstream.Requests);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task StandardHedging_LimitOne_TheHedgeWaitsInTheQueue_AndLeavesItWhenTheFirstAttemptWins()
    {
        await using var upstream = await Upstream.StartAsync();
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = await StartHostAsync(
            upstream,
            services => services.AddHttpClient("h").UseClientSession("bulk").AddStandardHedgingHandler().Configure(o => o.Hedging.Delay = TimeSpan.Zero),
            limit: 1,
            session: s => s.AddTrace(_ => new ClientTrace { OnConnectionQueuedStart = _ => queued.TrySetResult() }));
        var session = Bulk(host);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("h");
        var hold = upstream.Hold("hedge");

        var call = client.GetStringAsync("hold/hedge");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);
        await queued.Task.WaitAsync(Upstream.Patience);
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        hold.Release.SetResult();

        Assert.Equal("released hedge", await call.WaitAsync(Upstream.Patience));
        await session.Connector.WhenIdleAsync().WaitAsync(Upstream.Patience);
        AssertNothingHeld(session);
        Assert.Single(upstream.Requests, r => r == "/hold/hedge");
    }
}
