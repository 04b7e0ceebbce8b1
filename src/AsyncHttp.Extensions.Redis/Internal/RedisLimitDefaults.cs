namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>The defaults of the Redis limits, in one place; the XML docs of the options state them.</summary>
internal static class RedisLimitDefaults
{
    public const string KeyPrefix = "asynchttp";

    /// <summary>A crashed process's permits come back within this; renewed every third of it.</summary>
    public static readonly TimeSpan PermitExpiry = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(1);

    /// <summary>How often a waiter for a concurrency permit asks again when no release was announced (a lost message, an expiry).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);
}
