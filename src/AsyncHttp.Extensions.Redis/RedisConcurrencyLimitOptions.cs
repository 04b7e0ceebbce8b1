using AsyncHttp.Extensions.Redis.Internal;

namespace AsyncHttp.Extensions.Redis;

/// <summary>
/// A fleet-wide concurrency budget on Redis: at most <see cref="Permits"/> requests in flight at once, all processes
/// together; each permit is held from admission until the response is released.
/// </summary>
public sealed class RedisConcurrencyLimitOptions : RedisLimitOptions
{
    /// <summary>The most requests in flight at once, fleet-wide.</summary>
    /// <value>None: it must be set (<c>AddRedisConcurrencyLimit(permits: 10)</c>).</value>
    public int Permits { get; set; }

    /// <summary>
    /// The bound after which a crashed process's permits come back: each permit carries an expiry this far ahead of
    /// Redis's clock, renewed every third of it while its request lives, so a live permit never expires and a dead
    /// process's permits are free again at most this long after it died.
    /// </summary>
    /// <value>10 seconds.</value>
    public TimeSpan PermitExpiry { get; set; } = RedisLimitDefaults.PermitExpiry;

    /// <summary>
    /// While Redis is unavailable and <see cref="RedisLimitOptions.WhenUnavailable"/> is
    /// <see cref="RedisUnavailableBehavior.FailOpen"/>: the permits each process may hold on its own.
    /// </summary>
    /// <value>0: must be set for fail-open.</value>
    public int FallbackPermits { get; set; }

    /// <summary>A copy of these settings for the limit named <paramref name="name"/> in Redis.</summary>
    internal RedisConcurrencyLimitOptions CopyFor(string name)
    {
        var copy = (RedisConcurrencyLimitOptions)MemberwiseClone();
        copy.Name = name;
        return copy;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> Validate()
    {
        var errors = (List<string>)base.Validate();
        if (Permits <= 0)
        {
            errors.Add($"Permits must be positive; it is {Permits}.");
        }

        if (PermitExpiry < TimeSpan.FromMilliseconds(300))
        {
            errors.Add($"PermitExpiry must be 300 ms or more (it is renewed every third of it); it is {PermitExpiry}.");
        }

        if (WhenUnavailable == RedisUnavailableBehavior.FailOpen && FallbackPermits <= 0)
        {
            errors.Add($"FallbackPermits must be positive when WhenUnavailable is FailOpen (the permits each process may hold while Redis is away); it is {FallbackPermits}.");
        }

        if (FallbackPermits < 0)
        {
            errors.Add($"FallbackPermits must not be negative; it is {FallbackPermits}.");
        }

        return errors;
    }
}
