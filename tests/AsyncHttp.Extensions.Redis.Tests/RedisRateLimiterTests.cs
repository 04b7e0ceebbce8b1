using System.Diagnostics;
using System.Threading.RateLimiting;
using AsyncHttp.Extensions.Redis.Tests.Infrastructure;

namespace AsyncHttp.Extensions.Redis.Tests;

/// <summary>
/// The rate limiter on a real redis-server: a token bucket on Redis's clock shared by limiters on separate connections.
/// CI checks the bound (never more than burst + rate·W in a window of W), which a slow machine cannot break; the rate
/// reached is a measurement (docs/scale-out.md).
/// </summary>
public sealed class RedisRateLimiterTests(RedisServer redis) : IClassFixture<RedisServer>
{
    [Fact]
    public async Task AcquireAsync_TwoConnectionsOneBucket_NeverMoreThanBurstPlusRateTimesTheWindow()
    {
        const int Burst = 5;
        const double Rate = 40;
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        var options = new RedisRateLimitOptions { Name = "bucket", PermitsPerSecond = Rate, Burst = Burst, OperationTimeout = RedisServer.OperationTimeout };
        using var a = new RedisRateLimiter(first, options);
        using var b = new RedisRateLimiter(second, options);
        var clock = Stopwatch.StartNew();

        // One acquisition at a time, alternating connections: each grant is noted after Redis made it and before the
        // next is asked for, so grants i+1..j were all made within the noted window [t_i, t_j].
        var noted = new List<TimeSpan>();
        for (var i = 0; i < 45; i++)
        {
            using var lease = await (i % 2 == 0 ? a : b).AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
            Assert.True(lease.IsAcquired, $"grant {i} refused");
            noted.Add(clock.Elapsed);
        }

        for (var i = 0; i < noted.Count; i++)
        {
            for (var j = i + 1; j < noted.Count; j++)
            {
                var window = (noted[j] - noted[i]).TotalSeconds;
                Assert.True(j - i <= Burst + (Rate * window), $"{j - i} grants within {window * 1000:F0} ms");
            }
        }

        // A bucket that was full takes at least (45 - burst) / rate to hand out 45: the rate is not exceeded overall.
        Assert.True(noted[^1] - noted[0] >= TimeSpan.FromSeconds((45 - Burst - 1) / Rate), $"45 grants in {noted[^1] - noted[0]}");
    }

    [Fact]
    public async Task AcquireAsync_RedisDownFailOpen_GrantsFromTheLocalRate_FailClosedRefuses()
    {
        await using var connection = await redis.ConnectAsync();
        using var open = new RedisRateLimiter(connection, new RedisRateLimitOptions
        {
            Name = "open", PermitsPerSecond = 100, OperationTimeout = TimeSpan.FromMilliseconds(300),
            WhenUnavailable = RedisUnavailableBehavior.FailOpen, FallbackPermitsPerSecond = 10,
        });
        using var closed = new RedisRateLimiter(connection, new RedisRateLimitOptions { Name = "closed", PermitsPerSecond = 100, OperationTimeout = TimeSpan.FromMilliseconds(300) });
        var restored = RedisConcurrencyLimiterTests.Restored(connection);

        await redis.StopAsync();
        try
        {
            using var local = await open.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
            Assert.True(local.IsAcquired);
            Assert.True(open.IsRedisUnavailable);
            using var refused = await closed.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.ReasonPhrase, out var reason));
            Assert.Contains("fails closed", reason, StringComparison.Ordinal);
        }
        finally
        {
            await redis.StartAsync();
        }

        await restored;
        using var back = await closed.AcquireAsync().AsTask().WaitAsync(RedisServer.Patience);
        Assert.True(back.IsAcquired);
        Assert.False(closed.IsRedisUnavailable);
    }

    [Fact]
    public async Task Constructor_InvalidSettings_NamesEachBadOne()
    {
        await using var connection = await redis.ConnectAsync();
        var error = Assert.Throws<ArgumentException>(() => new RedisRateLimiter(
            connection,
            new RedisRateLimitOptions { PermitsPerSecond = -1, Burst = -2, WhenUnavailable = RedisUnavailableBehavior.FailOpen }));

        Assert.Contains("PermitsPerSecond must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("Burst must be 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("FallbackPermitsPerSecond must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("Name must be set", error.Message, StringComparison.Ordinal);
    }
}
