using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// Whether a limit's Redis answers: once a call fails, the limit counts Redis as away (warned once per outage) and tries
/// it again at most once per <c>retryEvery</c>, so that an outage costs admissions no round trip each; the first call
/// that succeeds ends the outage (logged).
/// </summary>
internal sealed partial class RedisAvailability(string limit, ILogger logger, TimeProvider time, TimeSpan retryEvery, RedisUnavailableBehavior behavior)
{
    private long _downSince;
    private long _lastTry;

    public bool IsDown => Volatile.Read(ref _downSince) != 0;

    /// <summary>True when a call to Redis should be made now: Redis is up, or it is time to try it again.</summary>
    public bool ShouldTry()
    {
        if (!IsDown)
        {
            return true;
        }

        var last = Volatile.Read(ref _lastTry);
        return time.GetElapsedTime(last) >= retryEvery && Interlocked.CompareExchange(ref _lastTry, time.GetTimestamp(), last) == last;
    }

    /// <summary>
    /// The connection to Redis is back: the next call tries it at once, and no new permit comes from the fallback (a
    /// call that fails again makes Redis away again).
    /// </summary>
    public void Restored()
    {
        Volatile.Write(ref _lastTry, 0);
        Succeeded();
    }

    public void Failed(Exception error)
    {
        var now = time.GetTimestamp();
        Volatile.Write(ref _lastTry, now);
        if (Interlocked.CompareExchange(ref _downSince, now, 0) == 0 && logger.IsEnabled(LogLevel.Warning))
        {
            var errorType = error.GetType().Name;
            Log.Unavailable(logger, limit, behavior, errorType, error);
        }
    }

    public void Succeeded()
    {
        var since = Interlocked.Exchange(ref _downSince, 0);
        if (since != 0 && logger.IsEnabled(LogLevel.Information))
        {
            var seconds = time.GetElapsedTime(since).TotalSeconds;
            Log.Recovered(logger, limit, seconds);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, EventName = "RedisUnavailable", Level = LogLevel.Warning, Message = "Limit '{Limit}': Redis is unavailable ({ErrorType}); {Behavior} until it answers again.")]
        public static partial void Unavailable(ILogger logger, string limit, RedisUnavailableBehavior behavior, string errorType, Exception exception);

        [LoggerMessage(EventId = 3002, EventName = "RedisRecovered", Level = LogLevel.Information, Message = "Limit '{Limit}': Redis is back after {Seconds:F1} s; the fleet-wide limit applies again.")]
        public static partial void Recovered(ILogger logger, string limit, double seconds);
    }
}
