namespace AsyncHttp.Extensions.Redis;

/// <summary>
/// A fleet-wide rate budget on Redis: a token bucket of <see cref="Burst"/> tokens refilled at
/// <see cref="PermitsPerSecond"/>, on Redis's clock, that every request of every process draws one token from. In any
/// window of W seconds the fleet starts at most <c>Burst + PermitsPerSecond × W</c> requests.
/// </summary>
public sealed class RedisRateLimitOptions : RedisLimitOptions
{
    /// <summary>The rate, fleet-wide, in requests per second.</summary>
    /// <value>None: it must be set (<c>AddRedisRateLimit(permitsPerSecond: 50)</c>).</value>
    public double PermitsPerSecond { get; set; }

    /// <summary>The bucket's size: how many requests may start at once after a quiet time.</summary>
    /// <value>0: the rate of one second, rounded up.</value>
    public int Burst { get; set; }

    /// <summary>
    /// While Redis is unavailable and <see cref="RedisLimitOptions.WhenUnavailable"/> is
    /// <see cref="RedisUnavailableBehavior.FailOpen"/>: the rate each process may use on its own.
    /// </summary>
    /// <value>0: must be set for fail-open.</value>
    public double FallbackPermitsPerSecond { get; set; }

    /// <summary>The bucket's size in force: <see cref="Burst"/>, or the rate of one second rounded up.</summary>
    internal int EffectiveBurst => Burst > 0 ? Burst : Math.Max(1, (int)Math.Ceiling(PermitsPerSecond));

    /// <summary>A copy of these settings for the limit named <paramref name="name"/> in Redis.</summary>
    internal RedisRateLimitOptions CopyFor(string name)
    {
        var copy = (RedisRateLimitOptions)MemberwiseClone();
        copy.Name = name;
        return copy;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> Validate()
    {
        var errors = (List<string>)base.Validate();
        if (!(PermitsPerSecond > 0) || double.IsInfinity(PermitsPerSecond))
        {
            errors.Add($"PermitsPerSecond must be positive; it is {PermitsPerSecond}.");
        }

        if (Burst < 0)
        {
            errors.Add($"Burst must be 0 (the rate of one second) or more; it is {Burst}.");
        }

        if (WhenUnavailable == RedisUnavailableBehavior.FailOpen && !(FallbackPermitsPerSecond > 0))
        {
            errors.Add($"FallbackPermitsPerSecond must be positive when WhenUnavailable is FailOpen (the rate each process may use while Redis is away); it is {FallbackPermitsPerSecond}.");
        }

        return errors;
    }
}
