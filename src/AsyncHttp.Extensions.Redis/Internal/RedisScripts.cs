namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// The Lua scripts of the limits, each one atomic on Redis and on Redis's own clock (<c>TIME</c>), never a process's:
/// the processes of a fleet agree on time as Redis tells it, whatever their clocks say. Redis 5 and later replicate a
/// script's effects, not the script, so reading <c>TIME</c> in one is allowed.
/// </summary>
/// <remarks>
/// RedisRateLimiting's scripts stamp each permit with the caller's clock in whole seconds and a fixed 60 s expiry, and
/// its token bucket keeps the caller's whole-second time as the refill stamp: two processes whose clocks straddle a
/// second refill it twice. These do neither.
/// </remarks>
internal static class RedisScripts
{
    /// <summary>
    /// Concurrency, acquire: a sorted set of permits (member = lease id, score = expiry in ms of Redis's clock). Drops
    /// the expired, then adds the lease if fewer than the limit are held.
    /// KEYS[1] = the set; ARGV = limit, expiry (ms), lease id.
    /// Returns { 1, held } when granted; { 0, held, ms until the next expiry } when not.
    /// </summary>
    public const string Acquire = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local held = redis.call('ZCARD', KEYS[1])
        if held < tonumber(ARGV[1]) then
          redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
          redis.call('PEXPIRE', KEYS[1], ttl)
          return { 1, held + 1 }
        end
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        return { 0, held, math.max(1, tonumber(first[2]) - now) }
        """;

    /// <summary>
    /// Concurrency, renew: every permit the process holds gets a new expiry; a permit Redis lost (a restart without
    /// persistence, an expiry while Redis was unreachable) is added back, since its request is still in flight.
    /// KEYS[1] = the set; ARGV = expiry (ms), lease ids... Returns how many were missing.
    /// </summary>
    public const string Renew = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[1])
        local added = 0
        for i = 2, #ARGV do
          added = added + redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
        end
        redis.call('PEXPIRE', KEYS[1], ttl)
        return added
        """;

    /// <summary>
    /// Concurrency, release: removes the permits, then tells the processes waiting for one.
    /// KEYS[1] = the set; ARGV[1] = the channel; ARGV[2..] = lease ids. Returns how many were held.
    /// </summary>
    public const string Release = """
        local removed = redis.call('ZREM', KEYS[1], unpack(ARGV, 2))
        redis.call('PUBLISH', ARGV[1], KEYS[1])
        return removed
        """;

    /// <summary>
    /// Rate, acquire one token: a bucket (hash of tokens and the time they were counted, ms of Redis's clock) refilled
    /// continuously at the rate, up to the burst.
    /// KEYS[1] = the bucket; ARGV = tokens per ms, burst.
    /// Returns { 1, 0, Redis's time in ms } when granted; { 0, ms until a token is there, Redis's time } when not.
    /// </summary>
    public const string TakeToken = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(bucket[1])
        local at = tonumber(bucket[2])
        if tokens == nil or at == nil then
          tokens = burst
          at = now
        end
        tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
        local granted = 0
        local wait = 0
        if tokens >= 1 then
          tokens = tokens - 1
          granted = 1
        else
          wait = math.max(1, math.ceil((1 - tokens) / rate))
        end
        redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.3f', now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
        return { granted, wait, string.format('%.3f', now) }
        """;

    /// <summary>
    /// Retry-After, fleet-wide: lengthens a host's pause key to at least the given time, never shortens it, and tells
    /// the processes. KEYS[1] = the host's pause key; ARGV = ms, channel, message. Returns 1 when it lengthened it.
    /// </summary>
    public const string Pause = """
        local left = redis.call('PTTL', KEYS[1])
        if left >= tonumber(ARGV[1]) then
          return 0
        end
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
        redis.call('PUBLISH', ARGV[2], ARGV[3])
        return 1
        """;
}
