using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>The log events of the Redis limits (event ids 3000-3099).</summary>
internal static partial class RedisLimitLog
{
    [LoggerMessage(EventId = 3003, EventName = "PermitsRestored", Level = LogLevel.Warning, Message = "Limit '{Limit}': Redis had lost {Count} permits of requests still in flight (a restart, or an outage longer than their expiry); they count again.")]
    public static partial void PermitsRestored(ILogger logger, string limit, long count);

    [LoggerMessage(EventId = 3004, EventName = "PauseShared", Level = LogLevel.Information, Message = "Retry-After of {Host} for {Seconds:F1} s shared with the fleet (prefix '{Prefix}').")]
    public static partial void PauseShared(ILogger logger, string host, double seconds, string prefix);

    [LoggerMessage(EventId = 3005, EventName = "PauseReceived", Level = LogLevel.Information, Message = "Retry-After of {Host} for {Seconds:F1} s received from the fleet: admission to it pauses.")]
    public static partial void PauseReceived(ILogger logger, string host, double seconds);

    [LoggerMessage(EventId = 3007, EventName = "TokenGranted", Level = LogLevel.Trace, Message = "Limit '{Limit}': token granted at {GrantedAtMs:F3} (Redis's clock, Unix ms).")]
    public static partial void TokenGranted(ILogger logger, string limit, double grantedAtMs);

    [LoggerMessage(EventId = 3006, EventName = "PauseNotShared", Level = LogLevel.Warning, Message = "Retry-After of {Host} could not be shared with the fleet ({ErrorType}); it applies in this process.")]
    public static partial void PauseNotShared(ILogger logger, string host, string errorType, Exception exception);
}
