using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Internal;

/// <summary>
/// Where a session reports: its logger, the <c>AsyncHttp</c> meter, the <c>AsyncHttp</c> activity source and its
/// trace callbacks. Every report is skipped cheaply when nobody listens.
/// </summary>
internal sealed partial class SessionTelemetry
{
    public static readonly ActivitySource ActivitySource = new(ClientMetrics.MeterName);

    private readonly ClientTrace[] _traces;

    /// <param name="session">The session's name (a connector's, for what a connector reports without a session).</param>
    /// <param name="logger">Where it logs.</param>
    /// <param name="metrics">The instruments of its meter.</param>
    /// <param name="traces">Its trace callbacks.</param>
    /// <param name="connector">The name of the session's connector; the session's own name when it owns it (or none is given).</param>
    public SessionTelemetry(string session, ILogger logger, ClientMetrics metrics, ClientTrace[] traces, string? connector = null)
    {
        Session = session;
        Connector = connector ?? session;
        Logger = logger;
        Metrics = metrics;
        _traces = traces;
    }

    public string Session { get; }

    /// <summary>The name of the session's connector, a tag of the gauges and the queue waits.</summary>
    public string Connector { get; }

    public ILogger Logger { get; }

    public ClientMetrics Metrics { get; }

    /// <summary>
    /// True when someone would see a queue wait: a trace callback, a span listener, the queue-duration histogram or a
    /// debug log. When no one would, a queued request is awaited without a state machine of its own for the telemetry.
    /// </summary>
    public bool ObservesQueue
        => _traces.Length > 0 || ActivitySource.HasListeners() || Metrics.QueueDuration.Enabled || Logger.IsEnabled(LogLevel.Debug);

    public void Trace(TraceEventKind kind, HttpMethod? method = null, Uri? url = null, string? host = null, int? status = null, Exception? exception = null, TimeSpan? elapsed = null)
    {
        if (_traces.Length == 0)
        {
            return;
        }

        var e = new ClientTraceEvent(kind, Session, method, url, host, status, exception, elapsed);
        foreach (var trace in _traces)
        {
            trace.Raise(e);
        }
    }

    /// <summary>
    /// A request joins the connector's queue: traced, and given a span when someone listens. A trace callback that
    /// throws fails the request, but only after the wait (<paramref name="deferred"/>, thrown by
    /// <see cref="QueueLeft"/>): a waiter left in the queue with no one to await it would take a slot for good.
    /// </summary>
    /// <returns>The queue-wait span, which the caller ends; null when no one listens.</returns>
    public Activity? QueueEntered(HostKey key, HttpMethod method, Uri url, out Exception? deferred)
    {
        deferred = null;
        try
        {
            Trace(TraceEventKind.ConnectionQueuedStart, method, url, key.Host);
            return StartQueueWait(key);
        }
        catch (Exception ex)
        {
            deferred = ex;
            return null;
        }
    }

    /// <summary>
    /// A request that queued at <paramref name="queuedAt"/> left the queue with a slot: its wait is recorded and
    /// traced, or the callback error kept by <see cref="QueueEntered"/> is thrown. When this throws, the caller gives
    /// the slot back.
    /// </summary>
    public void QueueLeft(Exception? deferred, long queuedAt, HostKey key, int priority, HttpMethod method, Uri url, TimeProvider time)
    {
        if (deferred is not null)
        {
            ExceptionDispatchInfo.Throw(deferred);
        }

        var waited = time.GetElapsedTime(queuedAt);
        QueueWaited(key, priority, waited, method, url);
        Trace(TraceEventKind.ConnectionQueuedEnd, method, url, key.Host, elapsed: waited);
    }

    /// <summary>Starts the queue-wait span, a child of the caller's current activity, when someone listens.</summary>
    private Activity? StartQueueWait(HostKey key)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

        var activity = ActivitySource.StartActivity("asynchttp.queue.wait", ActivityKind.Internal);
        activity?.SetTag(ClientMetrics.SessionTag, Session);
        activity?.SetTag("server.address", key.Address);
        activity?.SetTag("server.port", key.Port);
        return activity;
    }

    private void QueueWaited(HostKey key, int priority, TimeSpan waited, HttpMethod method, Uri url)
    {
        if (Metrics.QueueDuration.Enabled)
        {
            // By connector and priority too: on a shared connector, the wait of each priority is what tells whether
            // the higher sessions get the slots first.
            var tags = ClientMetrics.Tags(Session, key.Scheme, key.Address, key.Port);
            tags.Add(ClientMetrics.ConnectorTag, Connector);
            tags.Add(ClientMetrics.PriorityTag, priority);
            Metrics.QueueDuration.Record(waited.TotalSeconds, tags);
        }

        if (Logger.IsEnabled(LogLevel.Debug))
        {
            var redacted = UrlRedaction.Redact(url);
            var milliseconds = waited.TotalMilliseconds;
            Log.QueueWait(Logger, method, redacted, milliseconds);
        }
    }

    public void QueueRejected(HttpMethod method, Uri url)
    {
        Metrics.QueueRejections.Add(1, new KeyValuePair<string, object?>(ClientMetrics.SessionTag, Session));
        if (Logger.IsEnabled(LogLevel.Warning))
        {
            var redacted = UrlRedaction.Redact(url);
            Log.QueueFull(Logger, method, redacted);
        }
    }

    public void TimeoutFired(TimeoutKind kind, TimeSpan value, HttpMethod? method, Uri? url)
    {
        Metrics.Timeouts.Add(1, new KeyValuePair<string, object?>(ClientMetrics.SessionTag, Session), new KeyValuePair<string, object?>("asynchttp.timeout.kind", kind.ToString()));
        if (Logger.IsEnabled(LogLevel.Information))
        {
            var redacted = UrlRedaction.Redact(url);
            Log.TimeoutFired(Logger, method?.Method ?? "-", redacted, kind, value);
        }
    }

    public void ConnectFailed(HostKey key, Exception error)
    {
        if (Logger.IsEnabled(LogLevel.Warning))
        {
            var host = key.Describe();
            var errorType = error.GetType().Name;
            Log.ConnectFailed(Logger, host, errorType, error);
        }
    }

    /// <summary>A proxy of the environment (<see cref="ConnectorOptions.TrustEnv"/>) could not be used: requests go without it.</summary>
    public void ProxyIgnored(string why) => Log.ProxyIgnored(Logger, why);

    public void RequestStarted(HttpMethod method, Uri url)
    {
        Trace(TraceEventKind.RequestStart, method, url);
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            var redacted = UrlRedaction.Redact(url);
            Log.RequestStart(Logger, method, redacted);
        }
    }

    /// <summary>A request's headers are in; what it took is read from the clock only when someone listens.</summary>
    public void RequestEnded(HttpMethod method, Uri url, int status, long started, TimeProvider time)
    {
        if (_traces.Length == 0 && !Logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        var elapsed = time.GetElapsedTime(started);
        Trace(TraceEventKind.RequestEnd, method, url, status: status, elapsed: elapsed);
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            var redacted = UrlRedaction.Redact(url);
            var milliseconds = elapsed.TotalMilliseconds;
            Log.RequestEnd(Logger, method, redacted, status, milliseconds);
        }
    }

    public void RequestCompleted(RequestContext context)
    {
        if (!Metrics.RequestDuration.Enabled || context.Method is null || context.Url is null)
        {
            return;
        }

        var elapsed = context.Session.Time.GetElapsedTime(context.StartTimestamp);

        var url = context.Url;
        var tags = ClientMetrics.Tags(Session, url.Scheme, url.IdnHost, url.Port);
        tags.Add("http.request.method", ClientMetrics.MethodTag(context.Method));
        if (context.StatusCode is { } status)
        {
            tags.Add("http.response.status_code", status);
        }

        // As OpenTelemetry's HTTP client conventions and System.Net.Http: the exception's type when the request failed,
        // otherwise the status code of an error response (4xx, 5xx) as a string.
        if (context.ErrorType is { } errorType)
        {
            tags.Add("error.type", errorType);
        }
        else if (context.StatusCode is >= 400 and var failed)
        {
            tags.Add("error.type", failed.ToString(CultureInfo.InvariantCulture));
        }

        Metrics.RequestDuration.Record(elapsed.TotalSeconds, tags);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1004, EventName = "RequestStart", Level = LogLevel.Debug, Message = "{Method} {Url} started.")]
        public static partial void RequestStart(ILogger logger, HttpMethod method, string url);

        [LoggerMessage(EventId = 1005, EventName = "RequestEnd", Level = LogLevel.Debug, Message = "{Method} {Url} answered {StatusCode} after {ElapsedMs:F1} ms (headers).")]
        public static partial void RequestEnd(ILogger logger, HttpMethod method, string url, int statusCode, double elapsedMs);

        [LoggerMessage(EventId = 1006, EventName = "QueueWait", Level = LogLevel.Debug, Message = "{Method} {Url} waited {ElapsedMs:F1} ms in the queue.")]
        public static partial void QueueWait(ILogger logger, HttpMethod method, string url, double elapsedMs);

        [LoggerMessage(EventId = 1007, EventName = "QueueFull", Level = LogLevel.Warning, Message = "{Method} {Url} was rejected: the queue is full.")]
        public static partial void QueueFull(ILogger logger, HttpMethod method, string url);

        [LoggerMessage(EventId = 1008, EventName = "TimeoutFired", Level = LogLevel.Information, Message = "{Method} {Url}: the {Kind} timeout of {Timeout} fired.")]
        public static partial void TimeoutFired(ILogger logger, string method, string url, TimeoutKind kind, TimeSpan timeout);

        [LoggerMessage(EventId = 1009, EventName = "ConnectFailed", Level = LogLevel.Warning, Message = "Connecting to {Host} failed with {ErrorType}.")]
        public static partial void ConnectFailed(ILogger logger, string host, string errorType, Exception exception);

        [LoggerMessage(EventId = 1010, EventName = "ProxyIgnored", Level = LogLevel.Warning, Message = "A proxy of the environment is ignored (TrustEnv): {Reason}")]
        public static partial void ProxyIgnored(ILogger logger, string reason);
    }
}

