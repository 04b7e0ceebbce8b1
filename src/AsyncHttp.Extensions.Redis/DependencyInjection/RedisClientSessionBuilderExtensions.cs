using AsyncHttp;
using AsyncHttp.Extensions.Redis;
using AsyncHttp.Extensions.Redis.Internal;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Fleet-wide limits on Redis for a named session: every replica that registers the same limit shares one budget.</summary>
public static class RedisClientSessionBuilderExtensions
{
    /// <summary>
    /// Limits the session's requests in flight to <paramref name="permits"/> across every process that uses the same
    /// limit (by default: the same session name and Redis): a request holds a permit from admission until its response
    /// is released, as it holds its slot. Waiting for a permit is waiting in the session's queue (it counts in
    /// <c>Connect</c> and <c>Total</c>). Bound from <c>AsyncHttp:Sessions:{name}:RateLimits:Concurrency</c> when that
    /// section exists, then <paramref name="configure"/>; validated at start.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="permits">The most requests in flight at once, fleet-wide.</param>
    /// <param name="configure">Further settings: the Redis connection, <c>PermitExpiry</c>, fail-open or fail-closed, ...</param>
    /// <returns>The builder.</returns>
    /// <example><c>services.AddClientSession("partner").AddRedisConcurrencyLimit(permits: 10, o =&gt; o.Configuration = "localhost:6379");</c></example>
    public static IClientSessionBuilder AddRedisConcurrencyLimit(this IClientSessionBuilder builder, int permits, Action<RedisConcurrencyLimitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        RedisLimitRegistration.Add(
            builder,
            "Concurrency",
            o => o.Permits = permits,
            configure,
            static (section, options) => section.Bind(options, static b => b.ErrorOnUnknownConfiguration = true),
            static (o, name) => o.CopyFor(name),
            static (redis, o, logger, time) => new RedisConcurrencyLimiter(redis, o, logger, time));
        return builder;
    }

    /// <summary>
    /// Limits the rate at which the session's requests start to <paramref name="permitsPerSecond"/> across every process
    /// that uses the same limit: a token bucket on Redis's clock, so that in any window of W seconds the fleet starts at
    /// most <c>Burst + permitsPerSecond × W</c> requests. Waiting for a token is waiting in the session's queue. Bound
    /// from <c>AsyncHttp:Sessions:{name}:RateLimits:Rate</c> when that section exists, then <paramref name="configure"/>;
    /// validated at start.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="permitsPerSecond">The rate, fleet-wide.</param>
    /// <param name="configure">Further settings: the Redis connection, <c>Burst</c>, fail-open or fail-closed, ...</param>
    /// <returns>The builder.</returns>
    /// <example><c>services.AddClientSession("partner").AddRedisRateLimit(permitsPerSecond: 50);</c></example>
    public static IClientSessionBuilder AddRedisRateLimit(this IClientSessionBuilder builder, double permitsPerSecond, Action<RedisRateLimitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        RedisLimitRegistration.Add(
            builder,
            "Rate",
            o => o.PermitsPerSecond = permitsPerSecond,
            configure,
            static (section, options) => section.Bind(options, static b => b.ErrorOnUnknownConfiguration = true),
            static (o, name) => o.CopyFor(name),
            static (redis, o, logger, time) => new RedisRateLimiter(redis, o, logger, time));
        return builder;
    }
}
