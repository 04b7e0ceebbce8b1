using System.Collections.Concurrent;
using System.Threading.Channels;
using System.Threading.RateLimiting;
using AsyncHttp.Extensions.Redis.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis;

/// <summary>
/// A concurrency limiter shared by every process that uses the same Redis key: at most
/// <see cref="RedisConcurrencyLimitOptions.Permits"/> leases held at once, fleet-wide. Give it to a session with
/// <c>AddRedisConcurrencyLimit</c>, or to <see cref="ClientSessionOptions.Limiters"/> through
/// <see cref="AdmissionLimiter.Create"/>.
/// </summary>
/// <remarks>
/// <para>
/// Each permit is a member of a sorted set, scored with an expiry on Redis's clock <see cref="RedisConcurrencyLimitOptions.PermitExpiry"/>
/// ahead. While a lease is held, a background loop renews it every third of that, so a long request never loses its
/// permit; a process that dies stops renewing, and its permits are free again within the expiry. A permit Redis lost
/// (a restart without persistence) is added back by the next renewal: its request is still in flight.
/// </para>
/// <para>
/// Disposing a lease never blocks and never waits for Redis: the release goes to the background loop, which removes
/// the permit and announces it on a channel, so that waiting processes ask again at once instead of polling. When Redis
/// is away the release waits there, and the permit expires if Redis does not come back in time.
/// </para>
/// <para>
/// <see cref="RateLimiter.AttemptAcquire(int)"/> does no I/O: it grants only from the local fallback while Redis is
/// away (fail-open). <see cref="RateLimiter.AcquireAsync"/> asks Redis, and waits (for an announced release, or the
/// next expiry) while the fleet's permits are all held.
/// </para>
/// </remarks>
public sealed class RedisConcurrencyLimiter : RateLimiter
{
    private const int ReleaseBatch = 256;
    private const int MaxPendingReleases = 100_000;

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKey _key;
    private readonly RedisChannel _channel;
    private readonly int _permits;
    private readonly long _expiryMs;
    private readonly TimeSpan _renewEvery;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RedisAvailability _availability;
    private readonly ConcurrencyLimiter? _fallback;
    private readonly ConcurrentDictionary<string, Lease> _held = new(StringComparer.Ordinal);
    private readonly Channel<string> _releases = Channel.CreateUnbounded<string>();
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private readonly Task _maintenance;
    private TaskCompletionSource _released = NewSignal();
    private TaskCompletionSource _renewed = NewSignal();
    private TaskCompletionSource _sent = NewSignal();
    private long _next;
    private long _granted;
    private long _refused;
    private int _renewals;
    private int _disposed;

    /// <summary>Creates the limiter on the key <c>{KeyPrefix}:{Name}:concurrency</c>.</summary>
    /// <param name="redis">The connection to Redis.</param>
    /// <param name="options">The settings; <see cref="RedisLimitOptions.Name"/> must be set. The limiter takes a copy.</param>
    /// <param name="logger">Where outages and recoveries are logged.</param>
    /// <param name="timeProvider">The clock of the waits and the renewal; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one.</exception>
    public RedisConcurrencyLimiter(IConnectionMultiplexer redis, RedisConcurrencyLimitOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
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
            throw new ArgumentException($"Invalid Redis concurrency limit: {string.Join(" ", errors)}", nameof(options));
        }

        _redis = redis;
        Name = options.Name!;
        _key = $"{options.KeyPrefix}:{Name}:concurrency";
        _channel = RedisChannel.Literal($"{options.KeyPrefix}:released");
        _permits = options.Permits;
        _expiryMs = (long)options.PermitExpiry.TotalMilliseconds;
        _renewEvery = options.PermitExpiry / 3;
        _timeout = options.OperationTimeout;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _availability = new RedisAvailability(Name, _logger, _time, _timeout, options.WhenUnavailable);
        if (options.WhenUnavailable == RedisUnavailableBehavior.FailOpen)
        {
            _fallback = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = options.FallbackPermits, QueueLimit = int.MaxValue });
        }

        _redis.ConnectionRestored += OnConnectionRestored;
        _maintenance = Task.Run(MaintainAsync);
    }

    /// <summary>The limit's name in Redis.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public override TimeSpan? IdleDuration => _held.IsEmpty ? TimeSpan.Zero : null;

    /// <summary>True while Redis does not answer (the fallback or the refusal applies).</summary>
    public bool IsRedisUnavailable => _availability.IsDown;

    /// <summary>Leases this process holds now.</summary>
    internal int Held => _held.Count;

    /// <summary>Renewals done so far.</summary>
    internal int Renewals => Volatile.Read(ref _renewals);

    /// <summary>Completes when the next batch of releases has reached Redis (for tests that wait for one).</summary>
    internal Task WhenReleased => Volatile.Read(ref _sent).Task;

    /// <summary>Completes at the next renewal that reached Redis (for tests that wait for one).</summary>
    internal Task WhenRenewed => Volatile.Read(ref _renewed).Task;

    /// <summary>
    /// This process's view: the fleet's permits less this process's leases (other processes' are not counted), and
    /// the leases granted and refused here.
    /// </summary>
    /// <returns>The statistics.</returns>
    public override RateLimiterStatistics? GetStatistics() => new()
    {
        CurrentAvailablePermits = _permits - _held.Count,
        CurrentQueuedCount = 0,
        TotalSuccessfulLeases = Volatile.Read(ref _granted),
        TotalFailedLeases = Volatile.Read(ref _refused),
    };

    /// <inheritdoc/>
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ThrowIfInvalid(permitCount);
        if (permitCount == 0)
        {
            return Granted(null, null);
        }

        // No I/O here: only the fallback of an outage grants without waiting for Redis.
        if (_fallback is not null && _availability.IsDown && _fallback.AttemptAcquire(1) is { IsAcquired: true } local)
        {
            return Granted(NextId(), local);
        }

        return RefusedLease.WithoutAsking;
    }

    /// <inheritdoc/>
    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(permitCount);
        if (permitCount == 0)
        {
            return Granted(null, null);
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!_availability.ShouldTry())
            {
                return await UnavailableAsync(cancellationToken).ConfigureAwait(false);
            }

            // Taken before asking: a release announced while the answer is on its way still wakes this wait.
            var released = Volatile.Read(ref _released).Task;
            var id = NextId();
            RedisResult[] answer;
            try
            {
                var call = _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Acquire, [_key], [_permits, _expiryMs, id]);
                answer = (RedisResult[])(await call.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false))!;
            }
            catch (OperationCanceledException)
            {
                // The answer may still grant it: the permit goes back rather than waiting for its expiry.
                _releases.Writer.TryWrite(id);
                throw;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _releases.Writer.TryWrite(id);
                _availability.Failed(ex);
                return await UnavailableAsync(cancellationToken).ConfigureAwait(false);
            }

            _availability.Succeeded();
            if ((int)answer[0] == 1)
            {
                return Granted(id, null);
            }

            var nextExpiry = TimeSpan.FromMilliseconds((long)answer[2]);
            try
            {
                await released.WaitAsync(nextExpiry < RedisLimitDefaults.PollInterval ? nextExpiry : RedisLimitDefaults.PollInterval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // No release announced (or it was lost): ask again.
            }
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!disposing || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping.Cancel();
        _redis.ConnectionRestored -= OnConnectionRestored;

        ReleaseHeldQuietly();

        _fallback?.Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    protected override async ValueTask DisposeAsyncCore()
    {
        Dispose(disposing: true);
        await _maintenance.ConfigureAwait(false);
        await base.DisposeAsyncCore().ConfigureAwait(false);
    }

    /// <summary>Best effort and without waiting: what is still held at dispose goes back now, or expires.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Best effort: a permit not released here expires.")]
    private void ReleaseHeldQuietly()
    {
        var held = _held.Keys.ToArray();
        if (held.Length == 0)
        {
            return;
        }

        try
        {
            _ = _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Release, [_key], [_channel.ToString(), .. held.Select(h => (RedisValue)h)], CommandFlags.FireAndForget);
        }
        catch (Exception)
        {
            // The connection is gone (disposed first): the permits expire within PermitExpiry.
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void ThrowIfInvalid(int permitCount)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, 1);
    }

    private string NextId() => $"{_instance}:{Interlocked.Increment(ref _next)}";

    private Lease Granted(string? id, RateLimitLease? fallback)
    {
        Interlocked.Increment(ref _granted);
        var lease = new Lease(this, id, fallback);
        if (id is not null)
        {
            _held[id] = lease;
        }

        return lease;
    }

    /// <summary>Redis is away: the fallback's permit (fail-open), or a refusal (fail-closed).</summary>
    private async ValueTask<RateLimitLease> UnavailableAsync(CancellationToken cancellationToken)
    {
        if (_fallback is null)
        {
            Interlocked.Increment(ref _refused);
            return new RefusedLease($"Redis is unavailable for limit '{Name}', which fails closed");
        }

        var local = await _fallback.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
        if (!local.IsAcquired)
        {
            Interlocked.Increment(ref _refused);
            return local;
        }

        return Granted(NextId(), local);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _availability.Restored();

    private void OnReleaseAnnounced(RedisChannel channel, RedisValue key)
    {
        if (key == _key.ToString())
        {
            Interlocked.Exchange(ref _released, NewSignal()).TrySetResult();
        }
    }

    /// <summary>
    /// The background loop: sends releases as they come (in batches), renews the held permits every third of their
    /// expiry, and subscribes to the release announcements (again after an outage, if it has to).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The loop must outlive any failure; Redis's are counted as an outage.")]
    private async Task MaintainAsync()
    {
        var stopping = _stopping.Token;
        var subscribed = false;
        var nextRenewal = _time.GetTimestamp() + (long)(_renewEvery.TotalSeconds * _time.TimestampFrequency);
        List<string> pending = [];
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (!subscribed)
                {
                    await _redis.GetSubscriber().SubscribeAsync(_channel, OnReleaseAnnounced).WaitAsync(_timeout, _time, stopping).ConfigureAwait(false);
                    subscribed = true;
                }

                var untilRenewal = TimeSpan.FromSeconds((nextRenewal - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
                if (pending.Count == 0 && untilRenewal > TimeSpan.Zero)
                {
                    using var wake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    var release = _releases.Reader.WaitToReadAsync(wake.Token).AsTask();
                    await Task.WhenAny(release, Task.Delay(untilRenewal, _time, wake.Token)).ConfigureAwait(false);
                    await wake.CancelAsync().ConfigureAwait(false);
                }

                while (pending.Count < ReleaseBatch && _releases.Reader.TryRead(out var id))
                {
                    pending.Add(id);
                }

                if (pending.Count > 0)
                {
                    RedisValue[] values = [_channel.ToString(), .. pending.Select(p => (RedisValue)p)];
                    await _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Release, [_key], values).WaitAsync(_timeout, _time, stopping).ConfigureAwait(false);
                    pending.Clear();
                    _availability.Succeeded();
                    Interlocked.Exchange(ref _sent, NewSignal()).TrySetResult();
                }

                if (_time.GetTimestamp() >= nextRenewal)
                {
                    await RenewAsync(stopping).ConfigureAwait(false);
                    nextRenewal = _time.GetTimestamp() + (long)(_renewEvery.TotalSeconds * _time.TimestampFrequency);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                if (ex is RedisException or TimeoutException)
                {
                    _availability.Failed(ex);
                }

                // Releases wait for Redis (or expire); too many waiting means a long outage: the oldest have expired.
                if (pending.Count > MaxPendingReleases)
                {
                    pending.RemoveRange(0, pending.Count - MaxPendingReleases);
                }

                try
                {
                    await Task.Delay(_timeout < _renewEvery ? _timeout : _renewEvery, _time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        if (subscribed)
        {
            await _redis.GetSubscriber().UnsubscribeAsync(_channel, OnReleaseAnnounced, CommandFlags.FireAndForget).ConfigureAwait(false);
        }
    }

    private async Task RenewAsync(CancellationToken stopping)
    {
        var held = _held.Keys.ToArray();
        if (held.Length > 0)
        {
            RedisValue[] values = [_expiryMs, .. held.Select(h => (RedisValue)h)];
            var restored = (long)(await _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Renew, [_key], values).WaitAsync(_timeout, _time, stopping).ConfigureAwait(false));
            _availability.Succeeded();
            if (restored > 0)
            {
                RedisLimitLog.PermitsRestored(_logger, Name, restored);
            }
        }

        Interlocked.Increment(ref _renewals);
        if (held.Length > 0)
        {
            Interlocked.Exchange(ref _renewed, NewSignal()).TrySetResult();
        }
    }

    /// <summary>One permit, of Redis or of the fallback; its dispose hands the release to the background loop.</summary>
    private sealed class Lease(RedisConcurrencyLimiter limiter, string? id, RateLimitLease? fallback) : RateLimitLease
    {
        private int _disposed;

        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0 && id is not null)
            {
                limiter._held.TryRemove(id, out _);
                fallback?.Dispose();

                // A fallback permit too: a renewal after Redis came back may have added it there.
                limiter._releases.Writer.TryWrite(id);
            }

            base.Dispose(disposing);
        }
    }
}
