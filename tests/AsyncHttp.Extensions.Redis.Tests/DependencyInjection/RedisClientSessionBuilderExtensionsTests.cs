using AsyncHttp.Extensions.Redis.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Extensions.Redis.Tests.DependencyInjection;

/// <summary>
/// Sessions with Redis limits in real Generic Hosts against a real Kestrel upstream and a real redis-server: two hosts
/// (each its own DI, its own Redis connection, as two replicas) share one limit; settings bind from
/// <c>AsyncHttp:Sessions:{name}:RateLimits</c> and are validated at start; an outage is fail-closed or fail-open as
/// configured, nothing waits past Total, no slot leaks, and the limit holds again after recovery; Retry-After pauses
/// travel between the hosts.
/// </summary>
public sealed class RedisClientSessionBuilderExtensionsTests(RedisServer redis) : IClassFixture<RedisServer>, IAsyncLifetime
{
    private CountingUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await CountingUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task AddRedisConcurrencyLimit_TwoHostsBoundFromConfiguration_ShareOneLimitAndGiveEverythingBack()
    {
        using var first = await StartHostAsync("shared", ("RateLimits:Concurrency:Permits", "3"));
        using var second = await StartHostAsync("shared", ("RateLimits:Concurrency:Permits", "3"));
        var sessions = new[] { Session(first), Session(second) };

        // Each response is read and released as it comes: a response held unread keeps its permit, as it keeps its slot.
        var requests = sessions.SelectMany(s => Enumerable.Range(0, 5).Select(_ => ReadAsync(s, "hold"))).ToList();
        await _upstream.WhenInFlight(3);
        Assert.Equal(7, sessions.Sum(s => s.Stats.WaitingForPermit));
        Assert.Equal(3, sessions.Sum(s => s.Stats.InUse));

        _upstream.Open();
        Assert.All(await Task.WhenAll(requests).WaitAsync(RedisServer.Patience), body => Assert.Equal("done", body));

        Assert.Equal(3, _upstream.MaxInFlight);
        Assert.All(sessions, s => Assert.Equal((0, 0), (s.Stats.InUse, s.Stats.Waiting)));
        await first.StopAsync();
        await second.StopAsync();
    }

    [Theory]
    [InlineData("RateLimits:Concurrency:PermitExpiry", "00:00:00.1", "Session 'bad': AsyncHttp:Sessions:bad:RateLimits:Concurrency:PermitExpiry must be 300 ms or more")]
    [InlineData("RateLimits:Concurrency:WhenUnavailable", "FailOpen", "RateLimits:Concurrency:FallbackPermits must be positive when WhenUnavailable is FailOpen")]
    [InlineData("RateLimits:Concurrency:Permitz", "3", "Permitz")]
    [InlineData("RateLimits:Concurrency:Configuration", "", "no Redis to use")]
    public async Task StartAsync_BadRedisLimitSetting_StopsTheHostNamingSessionAndKey(string key, string? value, string expected)
    {
        using var host = BuildHost("bad", (key, value));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_RedisStoppedAndStartedFailClosed_RefusesFastThenTheLimitHoldsAgain()
    {
        using var host = await StartHostAsync("closed", ("RateLimits:Concurrency:Permits", "2"), ("RateLimits:Concurrency:OperationTimeout", "00:00:00.3"), ("Timeout:Total", "00:00:20"));
        var session = Session(host);
        var held = new[] { ReadAsync(session, "hold"), ReadAsync(session, "hold") };
        await _upstream.WhenInFlight(2);
        var queued = session.GetAsync("work?ms=1");
        var restored = Restored(host);

        await redis.StopAsync();
        try
        {
            // The request waiting for a permit, and a new one, are refused: not sent, and no wait to Total.
            await Assert.ThrowsAsync<RateLimitRejectedException>(() => queued.WaitAsync(RedisServer.Patience));
            var refused = await Assert.ThrowsAsync<RateLimitRejectedException>(() => session.GetAsync("work?ms=1").WaitAsync(RedisServer.Patience));
            Assert.Contains("fails closed", refused.Message, StringComparison.Ordinal);

            // The requests in flight finish; nothing of the local limit leaks.
            _upstream.Open();
            await Task.WhenAll(held).WaitAsync(RedisServer.Patience);

            Assert.Equal((0, 0), (session.Stats.InUse, session.Stats.Waiting));
        }
        finally
        {
            await redis.StartAsync();
        }

        await AfterRecoveryTheLimitHoldsAsync(session, 2, restored);
    }

    [Fact]
    public async Task GetAsync_RedisStoppedAndStartedFailOpen_UsesTheLocalFallbackThenTheLimitHoldsAgain()
    {
        using var host = await StartHostAsync(
            "open",
            ("RateLimits:Concurrency:Permits", "2"),
            ("RateLimits:Concurrency:OperationTimeout", "00:00:00.3"),
            ("RateLimits:Concurrency:WhenUnavailable", "FailOpen"),
            ("RateLimits:Concurrency:FallbackPermits", "1"));
        var session = Session(host);
        (await session.GetAsync("work?ms=1")).Dispose();
        var restored = Restored(host);

        await redis.StopAsync();
        try
        {
            var during = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => ReadAsync(session, "work?ms=20"))).WaitAsync(RedisServer.Patience);
            Assert.All(during, body => Assert.Equal("done", body));

            // The fallback's one permit at a time, in this process.
            Assert.Equal(1, _upstream.MaxInFlight);
            Assert.Equal((0, 0), (session.Stats.InUse, session.Stats.Waiting));
        }
        finally
        {
            await redis.StartAsync();
        }

        await AfterRecoveryTheLimitHoldsAsync(session, 2, restored);
    }

    [Fact]
    public async Task GetAsync_429WithRetryAfterInOneHost_PausesTheHostInTheOtherThroughRedis()
    {
        var firstTime = new FakeTimeProvider();
        var secondTime = new FakeTimeProvider();
        using var first = await StartHostAsync("paused", firstTime, ("RetryAfter", "true"), ("RateLimits:Concurrency:Permits", "5"));
        using var second = await StartHostAsync("paused", secondTime, ("RetryAfter", "true"), ("RateLimits:Concurrency:Permits", "5"));
        var other = Session(second);
        var received = new TaskCompletionSource<HostPausedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        other.Connector.HostPaused += (_, e) => received.TrySetResult(e);

        await using (var limited = await Session(first).GetAsync("limited"))
        {
            Assert.Equal(429, limited.Status);
        }

        var pause = await received.Task.WaitAsync(RedisServer.Patience);
        Assert.False(pause.FromResponse);
        Assert.Equal(TimeSpan.FromSeconds(2), pause.Duration);
        var waiting = other.GetAsync("work?ms=1");
        Assert.Equal(1, other.Stats.Waiting);

        secondTime.Advance(TimeSpan.FromSeconds(2));
        await using var resumed = await waiting.WaitAsync(RedisServer.Patience);
        Assert.Equal("done", await resumed.ReadAsStringAsync());
    }

    /// <summary>Once Redis answers again, the fleet limit holds: a burst never puts more than the permits in flight.</summary>
    private async Task AfterRecoveryTheLimitHoldsAsync(ClientSession session, int permits, Task restored)
    {
        await restored;
        var before = _upstream.Arrivals.Count;
        _upstream.ResetMaxInFlight();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => ReadAsync(session, "work?ms=30"))).WaitAsync(RedisServer.Patience);

        Assert.Equal(8, _upstream.Arrivals.Count - before);
        Assert.InRange(_upstream.MaxInFlight, 1, permits);
        Assert.Equal((0, 0), (session.Stats.InUse, session.Stats.Waiting));
    }

    /// <summary>Completes when the host's own connection to Redis is restored after the outage to come.</summary>
    private Task Restored(IHost host)
        => RedisConcurrencyLimiterTests.Restored(host.Services.GetRequiredService<Internal.RedisConnections>().Get(redis.Configuration));

    private static async Task<string> ReadAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    private static ClientSession Session(IHost host) => host.Services.GetRequiredService<ISessionRegistry>().GetSession(host.Services.GetRequiredService<string>());

    private Task<IHost> StartHostAsync(string name, params (string Key, string? Value)[] settings) => StartHostAsync(name, null, settings);

    private async Task<IHost> StartHostAsync(string name, TimeProvider? time, params (string Key, string? Value)[] settings)
    {
        var host = BuildHost(name, time, settings);
        await host.StartAsync();
        return host;
    }

    private IHost BuildHost(string name, params (string Key, string? Value)[] settings) => BuildHost(name, null, settings);

    private IHost BuildHost(string name, TimeProvider? time, params (string Key, string? Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        var section = $"AsyncHttp:Sessions:{name}";
        var configuration = new Dictionary<string, string?>
        {
            [$"{section}:BaseAddress"] = _upstream.BaseAddress.ToString(),
            [$"{section}:RateLimits:Concurrency:Configuration"] = redis.Configuration,
            [$"{section}:RateLimits:Concurrency:OperationTimeout"] = RedisServer.OperationTimeout.ToString(),
        };
        foreach (var (key, value) in settings)
        {
            configuration[$"{section}:{key}"] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddSingleton(name);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        builder.Services.AddClientSession(name).AddRedisConcurrencyLimit(permits: 1);
        return builder.Build();
    }
}
