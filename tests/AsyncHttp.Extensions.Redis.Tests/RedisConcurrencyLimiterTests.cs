using System.Threading.RateLimiting;
using AsyncHttp.Extensions.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis.Tests;

/// <summary>
/// The concurrency limiter on a real redis-server: the budget is shared by limiters on separate connections (as
/// processes are), a held permit is renewed past its expiry, a release never waits for Redis, a dead holder's permits
/// come back within the expiry, and an outage is fail-closed or fail-open as configured, with recovery.
/// </summary>
public sealed class RedisConcurrencyLimiterTests(RedisServer redis) : IClassFixture<RedisServer>
{
    [Fact]
    public async Task AcquireAsync_TwoProcessesShareOneBudget_AReleaseWakesTheWaitingOneAtOnce()
    {
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        var options = Options("shared", permits: 3);
        using var a = new RedisConcurrencyLimiter(first, options);
        using var b = new RedisConcurrencyLimiter(second, options);

        var held = new[] { await a.AcquireAsync(), await a.AcquireAsync(), await b.AcquireAsync() };
        Assert.All(held, l => Assert.True(l.IsAcquired));
        var waiting = b.AcquireAsync().AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.Equal(3, await first.GetDatabase().SortedSetLengthAsync("asynchttp:shared:concurrency"));

        held[0].Dispose();

        using var granted = await waiting.WaitAsync(RedisServer.Patience);
        Assert.True(granted.IsAcquired);
        var sentA = a.WhenReleased;
        var sentB = b.WhenReleased;
        held[1].Dispose();
        held[2].Dispose();
        granted.Dispose();
        await Task.WhenAll(sentA, sentB).WaitAsync(RedisServer.Patience);
        Assert.Equal(0, await first.GetDatabase().SortedSetLengthAsync("asynchttp:shared:concurrency"));
    }

    [Fact]
    public async Task Lease_HeldPastItsExpiry_IsRenewedAndStillCounts()
    {
        await using var connection = await redis.ConnectAsync();
        await using var other = await redis.ConnectAsync();
        var options = Options("renewed", permits: 1, expiry: TimeSpan.FromMilliseconds(600));
        using var holder = new RedisConcurrencyLimiter(connection, options);
        using var contender = new RedisConcurrencyLimiter(other, options);
        using var lease = await holder.AcquireAsync();

        // Three renewals span longer than the expiry (one every 200 ms): the permit is still held, never silently freed.
        for (var i = 0; i < 3; i++)
        {
            await holder.WhenRenewed.WaitAsync(RedisServer.Patience);
        }

        Assert.Equal(1, await connection.GetDatabase().SortedSetLengthAsync("asynchttp:renewed:concurrency"));
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await contender.AcquireAsync(1, cancellation.Token));
    }

    [Fact]
    public async Task LeaseDispose_WhileRedisIsBusy_ReturnsWithoutWaitingForIt_AndTheReleaseArrivesAfter()
    {
        await using var connection = await redis.ConnectAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        using var limiter = new RedisConcurrencyLimiter(connection, Options("busy", permits: 1));
        var lease = await limiter.AcquireAsync();

        // Redis answers no one for a second: a release that blocked on it would still be waiting when this returns.
        var busy = admin.GetDatabase().ExecuteAsync("DEBUG", "SLEEP", "1");
        var sent = limiter.WhenReleased;
        lease.Dispose();
        Assert.False(busy.IsCompleted);

        await busy;
        await sent.WaitAsync(RedisServer.Patience);
        Assert.Equal(0, await admin.GetDatabase().SortedSetLengthAsync("asynchttp:busy:concurrency"));
    }

    [Fact]
    public async Task AcquireAsync_AHolderThatDied_ItsPermitsComeBackWithinTheExpiry()
    {
        var options = Options("crashed", permits: 2, expiry: TimeSpan.FromSeconds(1));
        var dying = await redis.ConnectAsync();
        var dead = new RedisConcurrencyLimiter(dying, options);
        _ = await dead.AcquireAsync();
        _ = await dead.AcquireAsync();

        // Its connection goes without a word: no release, no renewal, as after SIGKILL (the fleet test kills a process).
        await dying.CloseAsync(allowCommandsToComplete: false);
        await using var connection = await redis.ConnectAsync();
        Assert.Equal(2, await connection.GetDatabase().SortedSetLengthAsync("asynchttp:crashed:concurrency"));
        using var survivor = new RedisConcurrencyLimiter(connection, options);
        var started = System.Diagnostics.Stopwatch.StartNew();

        using var first = await survivor.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
        using var second = await survivor.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);

        // Within the expiry, plus the wait's re-check (at most 500 ms) and room for a loaded machine.
        Assert.True(first.IsAcquired && second.IsAcquired);
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(5));
        dead.Dispose();
        dying.Dispose();
    }

    [Fact]
    public async Task AcquireAsync_RedisDownAndFailClosed_RefusesAtOnceWithAReason_ThenRecovers()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = new RedisConcurrencyLimiter(connection, Options("closed", permits: 2, timeout: TimeSpan.FromMilliseconds(300)));
        (await limiter.AcquireAsync()).Dispose();
        var restored = Restored(connection);

        await redis.StopAsync();
        try
        {
            using var refused = await limiter.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.ReasonPhrase, out var reason));
            Assert.Contains("Redis is unavailable", reason, StringComparison.Ordinal);
            Assert.True(limiter.IsRedisUnavailable);
        }
        finally
        {
            await redis.StartAsync();
        }

        // Back: once the connection is restored, the limiter asks Redis again at once.
        await restored;
        using var back = await limiter.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
        Assert.True(back.IsAcquired);
        Assert.False(limiter.IsRedisUnavailable);
    }

    [Fact]
    public async Task AcquireAsync_RedisDownAndFailOpen_GrantsTheFallbackOnly_AndItsLeasesCountInRedisOnceBack()
    {
        await using var connection = await redis.ConnectAsync();
        var options = Options("open", permits: 5, expiry: TimeSpan.FromMilliseconds(900), timeout: TimeSpan.FromMilliseconds(300));
        options.WhenUnavailable = RedisUnavailableBehavior.FailOpen;
        options.FallbackPermits = 2;
        using var limiter = new RedisConcurrencyLimiter(connection, options);

        await redis.StopAsync();
        RateLimitLease[] fallback;
        try
        {
            fallback = [await limiter.AcquireAsync(), await limiter.AcquireAsync()];
            Assert.All(fallback, l => Assert.True(l.IsAcquired));

            // The fallback's own budget: a third waits for one of the two.
            var third = limiter.AcquireAsync().AsTask();
            Assert.False(third.IsCompleted);
            fallback[0].Dispose();
            fallback[0] = await third.WaitAsync(RedisServer.Patience);
        }
        finally
        {
            await redis.StartAsync();
        }

        // A restarted Redis without persistence has lost everything: the renewal adds the leases in flight back.
        await limiter.WhenRenewed.WaitAsync(RedisServer.Patience);
        Assert.Equal(2, await connection.GetDatabase().SortedSetLengthAsync("asynchttp:open:concurrency"));
        var sent = limiter.WhenReleased;
        foreach (var lease in fallback)
        {
            lease.Dispose();
        }

        await sent.WaitAsync(RedisServer.Patience);
        Assert.Equal(0, await connection.GetDatabase().SortedSetLengthAsync("asynchttp:open:concurrency"));
    }

    internal static RedisConcurrencyLimitOptions Options(string name, int permits, TimeSpan? expiry = null, TimeSpan? timeout = null) => new()
    {
        Name = name,
        Permits = permits,
        PermitExpiry = expiry ?? TimeSpan.FromSeconds(10),
        OperationTimeout = timeout ?? RedisServer.OperationTimeout,
    };

    /// <summary>Completes when <paramref name="connection"/> is restored after the outage to come.</summary>
    internal static Task Restored(IConnectionMultiplexer connection)
    {
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive)
            {
                restored.TrySetResult();
            }
        };
        return restored.Task.WaitAsync(RedisServer.Patience);
    }
}
