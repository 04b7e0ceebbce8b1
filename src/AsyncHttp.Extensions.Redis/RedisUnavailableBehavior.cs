namespace AsyncHttp.Extensions.Redis;

/// <summary>What a Redis limit does while Redis cannot be reached.</summary>
public enum RedisUnavailableBehavior
{
    /// <summary>
    /// Refuse: a request that needs a permit fails with <see cref="RateLimitRejectedException"/> (not sent), until Redis
    /// answers again. The fleet's budget is never exceeded, at the cost of availability.
    /// </summary>
    FailClosed = 0,

    /// <summary>
    /// Fall back to a local budget (<see cref="RedisConcurrencyLimitOptions.FallbackPermits"/>,
    /// <see cref="RedisRateLimitOptions.FallbackPermitsPerSecond"/>) in each process, with a warning, until Redis answers
    /// again. Availability first: the fleet may then send up to the processes' fallback budgets together.
    /// </summary>
    FailOpen = 1,
}
