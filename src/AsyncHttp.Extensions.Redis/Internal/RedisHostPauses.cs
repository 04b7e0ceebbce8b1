using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// Shares <c>Retry-After</c> pauses through Redis: a pause a response caused on a connector goes to a key per host with
/// that expiry (lengthened, never shortened) and to a channel; a pause from the channel pauses the host on every
/// connector attached here. A connector that attaches later picks up the pauses still in force from their keys.
/// </summary>
internal sealed class RedisHostPauses : IDisposable
{
    private readonly IConnectionMultiplexer _redis;
    private readonly string _prefix;
    private readonly RedisChannel _channel;
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly List<Connector> _connectors = [];

    public RedisHostPauses(IConnectionMultiplexer redis, string prefix, TimeSpan timeout, ILogger logger)
    {
        _redis = redis;
        _prefix = prefix;
        _channel = RedisChannel.Literal($"{prefix}:paused");
        _timeout = timeout;
        _logger = logger;
        Subscribe();
    }

    public void Attach(Connector connector)
    {
        lock (_gate)
        {
            _connectors.Add(connector);
        }

        connector.HostPaused += OnHostPaused;
        _ = ApplyStandingPausesAsync(connector);
    }

    public void Detach(Connector connector)
    {
        connector.HostPaused -= OnHostPaused;
        lock (_gate)
        {
            _connectors.Remove(connector);
        }
    }

    public void Dispose()
    {
        Connector[] connectors;
        lock (_gate)
        {
            connectors = [.. _connectors];
            _connectors.Clear();
        }

        foreach (var connector in connectors)
        {
            connector.HostPaused -= OnHostPaused;
        }

        _redis.GetSubscriber().Unsubscribe(_channel, OnMessage, CommandFlags.FireAndForget);
    }

    /// <summary>
    /// Subscribes before the session admits anything, so that no pause published from then on is missed; when Redis is
    /// away, the connection subscribes once it is back (StackExchange.Redis restores its subscriptions).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Best effort: the next 429 of this process pauses it anyway.")]
    private void Subscribe()
    {
        var subscriber = _redis.GetSubscriber();
        try
        {
            subscriber.Subscribe(_channel, OnMessage);
        }
        catch (Exception ex)
        {
            NotShared(_prefix, ex);
            _ = subscriber.SubscribeAsync(_channel, OnMessage).ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        }
    }

    private RedisKey KeyOf(Uri host) => $"{_prefix}:pause:{host.GetLeftPart(UriPartial.Authority)}";

    /// <summary>A response paused a host here: the fleet is told, without holding up the response.</summary>
    private void OnHostPaused(object? sender, HostPausedEventArgs e)
    {
        // Only a response's: a pause that came from the fleet (or from code) is not sent back to it.
        if (e.FromResponse)
        {
            _ = ShareAsync(e.Host, e.Duration);
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Sharing is best effort: the pause applies in this process whatever happens.")]
    private async Task ShareAsync(Uri host, TimeSpan duration)
    {
        try
        {
            var ms = (long)Math.Ceiling(duration.TotalMilliseconds);
            var message = $"{ms.ToString(CultureInfo.InvariantCulture)} {host.GetLeftPart(UriPartial.Authority)}";
            await _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Pause, [KeyOf(host)], [ms, _channel.ToString(), message]).WaitAsync(_timeout).ConfigureAwait(false);
            if (_logger.IsEnabled(LogLevel.Information))
            {
                var authority = host.GetLeftPart(UriPartial.Authority);
                RedisLimitLog.PauseShared(_logger, authority, duration.TotalSeconds, _prefix);
            }
        }
        catch (Exception ex)
        {
            NotShared(host.GetLeftPart(UriPartial.Authority), ex);
        }
    }

    private void OnMessage(RedisChannel channel, RedisValue value)
    {
        var text = (string?)value;
        var space = text?.IndexOf(' ', StringComparison.Ordinal) ?? -1;
        if (space <= 0 || !long.TryParse(text.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            || !Uri.TryCreate(text![(space + 1)..], UriKind.Absolute, out var host))
        {
            return;
        }

        Apply(host, TimeSpan.FromMilliseconds(ms));
    }

    private void Apply(Uri host, TimeSpan duration)
    {
        Connector[] connectors;
        lock (_gate)
        {
            connectors = [.. _connectors];
        }

        // A pause only lengthens: the process whose response caused it sees its own message as a no-op.
        foreach (var connector in connectors)
        {
            if (!connector.IsClosed)
            {
                connector.PauseHost(host, duration);
            }
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            var authority = host.GetLeftPart(UriPartial.Authority);
            RedisLimitLog.PauseReceived(_logger, authority, duration.TotalSeconds);
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Best effort: a pause missed here is caught by the next 429 of this process.")]
    private async Task ApplyStandingPausesAsync(Connector connector)
    {
        try
        {
            var database = _redis.GetDatabase();
            foreach (var server in _redis.GetServers())
            {
                if (server.IsReplica || !server.IsConnected)
                {
                    continue;
                }

                await foreach (var key in server.KeysAsync(database.Database, $"{_prefix}:pause:*", pageSize: 100).ConfigureAwait(false))
                {
                    var left = await database.KeyTimeToLiveAsync(key).ConfigureAwait(false);
                    var host = ((string)key!)[($"{_prefix}:pause:").Length..];
                    if (left is { } remaining && remaining > TimeSpan.Zero && Uri.TryCreate(host, UriKind.Absolute, out var uri) && !connector.IsClosed)
                    {
                        connector.PauseHost(uri, remaining);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            NotShared(_prefix, ex);
        }
    }

    private void NotShared(string host, Exception error)
    {
        if (_logger.IsEnabled(LogLevel.Warning))
        {
            var errorType = error.GetType().Name;
            RedisLimitLog.PauseNotShared(_logger, host, errorType, error);
        }
    }
}
