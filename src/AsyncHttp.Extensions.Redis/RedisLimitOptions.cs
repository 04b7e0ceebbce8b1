using AsyncHttp.Extensions.Redis.Internal;

namespace AsyncHttp.Extensions.Redis;

/// <summary>What every fleet-wide limit on Redis has: where it lives in Redis, and what it does when Redis is away.</summary>
public abstract class RedisLimitOptions
{
    /// <summary>
    /// The Redis connection string (StackExchange.Redis syntax, such as <c>localhost:6379</c>) when no
    /// <c>IConnectionMultiplexer</c> is registered in DI; a registered one wins.
    /// </summary>
    /// <value>None.</value>
    public string? Configuration { get; set; }

    /// <summary>The prefix of every key and channel this package uses in Redis.</summary>
    /// <value><c>asynchttp</c>.</value>
    public string KeyPrefix { get; set; } = RedisLimitDefaults.KeyPrefix;

    /// <summary>
    /// The limit's name in Redis: every process that uses the same name (and prefix) shares one budget. Processes of
    /// one service with one session name share it without setting this.
    /// </summary>
    /// <value>The session's name.</value>
    public string? Name { get; set; }

    /// <summary>One budget per host (scheme, host and port) instead of one for all the session's requests.</summary>
    /// <value><see langword="false"/>.</value>
    public bool PerHost { get; set; }

    /// <summary>What to do while Redis cannot be reached.</summary>
    /// <value><see cref="RedisUnavailableBehavior.FailClosed"/>.</value>
    public RedisUnavailableBehavior WhenUnavailable { get; set; }

    /// <summary>
    /// How long one Redis call of an admission may take before Redis counts as unavailable for it; while Redis is
    /// unavailable, it is tried again at most this often.
    /// </summary>
    /// <value>1 second.</value>
    public TimeSpan OperationTimeout { get; set; } = RedisLimitDefaults.OperationTimeout;

    /// <summary>
    /// Share the session's <c>Retry-After</c> pauses (<see cref="ClientSessionOptions.RetryAfter"/>) with every process
    /// that uses the same prefix, through a key with an expiry per host and a channel, so that the fleet backs off together.
    /// </summary>
    /// <value>
    /// <see langword="true"/>. A process sends its pauses only when its session's <c>RetryAfter</c> is on; it applies the
    /// pauses it receives from the fleet whatever its own <c>RetryAfter</c>.
    /// </value>
    public bool ShareRetryAfter { get; set; } = true;

    /// <summary>Checks the settings; one message per bad one, each starting with its key. Empty when all are valid.</summary>
    /// <returns>The errors.</returns>
    public virtual IReadOnlyList<string> Validate()
    {
        List<string> errors = [];
        if (string.IsNullOrWhiteSpace(KeyPrefix))
        {
            errors.Add("KeyPrefix must not be empty.");
        }

        if (Name is not null && string.IsNullOrWhiteSpace(Name))
        {
            errors.Add("Name must not be empty; leave it unset for the session's name.");
        }

        if (OperationTimeout <= TimeSpan.Zero)
        {
            errors.Add($"OperationTimeout must be positive; it is {OperationTimeout}.");
        }

        if (!Enum.IsDefined(WhenUnavailable))
        {
            errors.Add($"WhenUnavailable must be FailClosed or FailOpen; it is {WhenUnavailable}.");
        }

        return errors;
    }
}
