using System.Globalization;
using System.Threading.RateLimiting;
using AsyncHttp.Extensions.Redis.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis;

/// <summary>
/// A rate limiter shared by every process that uses the same Redis key: a token bucket of
/// <see cref="RedisRateLimitOptions.Burst"/> tokens refilled continuously at
/// <see cref="RedisRateLimitOptions.PermitsPerSecond"/> on Redis's clock, so that in any window of W seconds the fleet
/// is granted at most <c>Burst + PermitsPerSecond × W</c> permits. Give it to a session with <c>AddRedisRateLimit</c>.
/// </summary>
/// <remarks>
/// A permit is a token taken; its lease holds nothing, and its dispose does nothing. <see cref="RateLimiter.AcquireAsync"/>
/// asks Redis, and when the bucket is empty waits as long as Redis says the next token takes, then asks again: the
/// processes waiting race for it (no order across processes; within a process the session's queue keeps its order).
/// <see cref="RateLimiter.AttemptAcquire(int)"/> does no I/O: it grants only from the local fallback while Redis is away.
/// </remarks>
public sealed class RedisRateLimiter : RateLimiter
{
    private static readonly RateLimitLease GrantedLease = new Granted();

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKey _key;
    private readonly string _tokensPerMs;
    private readonly int _burst;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly RedisAvailability _availability;
    private readonly ILogger _logger;
    private readonly TokenBucketRateLimiter? _fallback;
    private long _granted;
    private long _refused;
    private int _disposed;

    /// <summary>Creates the limiter on the key <c>{KeyPrefix}:{Name}:rate</c>.</summary>
    /// <param name="redis">The connection to Redis.</param>
    /// <param name="options">The settings; <see cref="RedisLimitOptions.Name"/> must be set. The limiter takes a copy.</param>
    /// <param name="logger">Where outages and recoveries are logged.</param>
    /// <param name="timeProvider">The clock of the waits; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one.</exception>
    public RedisRateLimiter(IConnectionMultiplexer redis, RedisRateLimitOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate().ToList();
        if (options.Name is null)
        {
            errors.Add("Name must be set: the limit's name in Redis.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid Redis rate limit: {string.Join(" ", errors)}", nameof(options));
        }

        _redis = redis;
        Name = options.Name!;
        _key = $"{options.KeyPrefix}:{Name}:rate";
        _tokensPerMs = (options.PermitsPerSecond / 1000).ToString("R", CultureInfo.InvariantCulture);
        _burst = options.EffectiveBurst;
        _timeout = options.OperationTimeout;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _availability = new RedisAvailability(Name, _logger, _time, _timeout, options.WhenUnavailable);
        if (options.WhenUnavailable == RedisUnavailableBehavior.FailOpen)
        {
            // Refilled every 100 ms (never more than the rate allows over a second); the bucket holds a second's worth.
            var perPeriod = Math.Max(1, (int)Math.Round(options.FallbackPermitsPerSecond / 10));
            _fallback = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = Math.Max(1, (int)Math.Ceiling(options.FallbackPermitsPerSecond)),
                TokensPerPeriod = perPeriod,
                ReplenishmentPeriod = TimeSpan.FromSeconds(perPeriod / options.FallbackPermitsPerSecond),
                QueueLimit = int.MaxValue,
            });
        }

        _redis.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>The limit's name in Redis.</summary>
    public string Name { get; }

    /// <summary>True while Redis does not answer (the fallback or the refusal applies).</summary>
    public bool IsRedisUnavailable => _availability.IsDown;

    /// <inheritdoc/>
    public override TimeSpan? IdleDuration => TimeSpan.Zero;

    /// <summary>This process's view: the permits granted and refused here (the bucket's tokens are Redis's).</summary>
    /// <returns>The statistics.</returns>
    public override RateLimiterStatistics? GetStatistics() => new()
    {
        CurrentAvailablePermits = 0,
        CurrentQueuedCount = 0,
        TotalSuccessfulLeases = Volatile.Read(ref _granted),
        TotalFailedLeases = Volatile.Read(ref _refused),
    };

    /// <inheritdoc/>
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ThrowIfInvalid(permitCount);
        if (_fallback is not null && _availability.IsDown && _fallback.AttemptAcquire(permitCount) is { IsAcquired: true } local)
        {
            Interlocked.Increment(ref _granted);
            return local;
        }

        return permitCount == 0 ? GrantedLease : RefusedLease.WithoutAsking;
    }

    /// <inheritdoc/>
    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(permitCount);
        if (permitCount == 0)
        {
            return GrantedLease;
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!_availability.ShouldTry())
            {
                return await UnavailableAsync(cancellationToken).ConfigureAwait(false);
            }

            RedisResult[] answer;
            try
            {
                var call = _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.TakeToken, [_key], [_tokensPerMs, _burst]);
                answer = (RedisResult[])(await call.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false))!;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _availability.Failed(ex);
                return await UnavailableAsync(cancellationToken).ConfigureAwait(false);
            }

            _availability.Succeeded();
            if ((int)answer[0] == 1)
            {
                Interlocked.Increment(ref _granted);
                if (_logger.IsEnabled(LogLevel.Trace))
                {
                    // Redis's time of the grant: what the bound (Burst + rate x W) holds for, whatever the processes' clocks.
                    var grantedAt = double.Parse((string)answer[2]!, CultureInfo.InvariantCulture);
                    RedisLimitLog.TokenGranted(_logger, Name, grantedAt);
                }

                return GrantedLease;
            }

            await Task.Delay(TimeSpan.FromMilliseconds((long)answer[1]), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _redis.ConnectionRestored -= OnConnectionRestored;
            _fallback?.Dispose();
        }

        base.Dispose(disposing);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _availability.Restored();

    private void ThrowIfInvalid(int permitCount)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, 1);
    }

    private async ValueTask<RateLimitLease> UnavailableAsync(CancellationToken cancellationToken)
    {
        if (_fallback is null)
        {
            Interlocked.Increment(ref _refused);
            return new RefusedLease($"Redis is unavailable for limit '{Name}', which fails closed");
        }

        var local = await _fallback.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref local.IsAcquired ? ref _granted : ref _refused);
        return local;
    }

    /// <summary>A token taken: nothing to give back.</summary>
    private sealed class Granted : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
