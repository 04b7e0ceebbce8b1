using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// The instruments of one <c>AsyncHttp</c> meter, shared by every session and connector that reports to it. The gauges
/// (requests in flight and queue depth per session, open connections per connector) are observed from the live
/// connectors when a collector asks, so they cost nothing per request; histograms and counters are recorded only while
/// someone listens.
/// </summary>
/// <remarks>
/// Names are <c>asynchttp.*</c>, never <c>http.client.*</c>: <c>System.Net.Http</c> reports those for the transport in
/// the same process, and ours measure other things (a request's duration here runs to its release, not to its
/// headers). Attributes follow the OpenTelemetry HTTP client conventions.
/// </remarks>
internal sealed class ClientMetrics
{
    public const string MeterName = "AsyncHttp";
    public const string SessionTag = "asynchttp.session";
    public const string ConnectorTag = "asynchttp.connector";
    public const string PriorityTag = "asynchttp.priority";
    public const string OtherMethod = "_OTHER";

    /// <summary>
    /// A queue wait lasts about as long as a request ahead of it takes to give its slot back: from a millisecond on a
    /// fast upstream to minutes behind a long crawl, bounded by <c>Connect</c> or <c>Total</c> (5 min by default).
    /// Finer than System.Net.Http's short buckets at the low end, where most waits of a busy but healthy queue fall.
    /// </summary>
    public static readonly InstrumentAdvice<double> QueueDurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    };

    /// <summary>
    /// A request runs to its release, body included: a download can take minutes. The short HTTP buckets up to 10 s,
    /// then on to <c>Total</c>'s default of 5 min, so that long requests do not all share the overflow bucket.
    /// </summary>
    public static readonly InstrumentAdvice<double> RequestDurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    };

    private static readonly Meter DefaultMeter = new(MeterName);
    private static readonly ConditionalWeakTable<Meter, ClientMetrics> ByMeter = [];

    private readonly Lock _gate = new();
    private readonly List<ClientSession> _sessions = [];
    private readonly List<Connector> _connectors = [];

    private ClientMetrics(Meter meter, IMeterFactory? factory)
    {
        MeterFactory = factory;
        QueueDuration = meter.CreateHistogram("asynchttp.client.queue.duration", "s", "Time a request waited in the connector's queue for a slot.", tags: null, advice: QueueDurationAdvice);
        RequestDuration = meter.CreateHistogram("asynchttp.client.request.duration", "s", "Time from the call to the release of the response (end of body or dispose).", tags: null, advice: RequestDurationAdvice);
        Timeouts = meter.CreateCounter<long>("asynchttp.client.timeouts", "{timeout}", "Timeouts that fired, by kind.");
        QueueRejections = meter.CreateCounter<long>("asynchttp.client.queue.rejections", "{request}", "Requests rejected because the queue was full.");
        PermitRejections = meter.CreateCounter<long>("asynchttp.client.permit.rejections", "{request}", "Requests a limiter of admission refused a permit.");
        meter.CreateObservableUpDownCounter("asynchttp.client.requests.in_flight", () => ObserveSessions(inUse: true), "{request}", "Requests holding a slot, from admission to release.");
        meter.CreateObservableUpDownCounter("asynchttp.client.queue.depth", () => ObserveSessions(inUse: false), "{request}", "Requests waiting in the connector's queue.");
        meter.CreateObservableUpDownCounter("asynchttp.client.queue.waiting_for_permit", ObservePermitWaits, "{request}", "Requests in the queue that could take a slot but wait for a limiter's permit.");
        meter.CreateObservableUpDownCounter("asynchttp.client.connections.open", ObserveConnections, "{connection}", "Open connections, idle or busy.");
    }

    /// <summary>
    /// The factory the meter came from, null for the process-wide meter. The transport's own <c>System.Net.Http</c>
    /// meter comes from the same factory, as <c>Microsoft.Extensions.Http</c> does it.
    /// </summary>
    public IMeterFactory? MeterFactory { get; }

    public Histogram<double> QueueDuration { get; }

    public Histogram<double> RequestDuration { get; }

    public Counter<long> Timeouts { get; }

    public Counter<long> QueueRejections { get; }

    public Counter<long> PermitRejections { get; }

    public static ClientMetrics For(IMeterFactory? factory)
    {
        // A factory hands out one meter per name, so a meter and its metrics belong to one factory.
        var meter = factory?.Create(new MeterOptions(MeterName)) ?? DefaultMeter;
        return ByMeter.GetValue(meter, m => new ClientMetrics(m, factory));
    }

    public void Register(ClientSession session)
    {
        lock (_gate)
        {
            _sessions.Add(session);
        }
    }

    public void Unregister(ClientSession session)
    {
        lock (_gate)
        {
            _sessions.Remove(session);
        }
    }

    public void Register(Connector connector)
    {
        lock (_gate)
        {
            _connectors.Add(connector);
        }
    }

    public void Unregister(Connector connector)
    {
        lock (_gate)
        {
            _connectors.Remove(connector);
        }
    }

    /// <summary>The tags of everything measured per host: the session, <c>server.*</c> and <c>url.scheme</c>.</summary>
    /// <param name="session">The session name.</param>
    /// <param name="scheme">The URL scheme.</param>
    /// <param name="address">The host name or IP address, an IPv6 address without brackets.</param>
    /// <param name="port">The port.</param>
    public static TagList Tags(string session, string scheme, string address, int port)
        => new() { { SessionTag, session }, { "server.address", address }, { "server.port", port }, { "url.scheme", scheme } };

    /// <summary>
    /// <c>http.request.method</c>: one of the methods HTTP defines (RFC 9110 and PATCH), as sent (methods are
    /// case-sensitive), and <c>_OTHER</c> for any other, so that a caller cannot make a series per made-up method.
    /// </summary>
    public static string MethodTag(HttpMethod method) => method.Method switch
    {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => OtherMethod,
    };

    /// <summary>Each session's own requests in flight or waiting, per host: on a shared connector they add up to the connector's.</summary>
    private List<Measurement<long>> ObserveSessions(bool inUse)
    {
        ClientSession[] sessions;
        lock (_gate)
        {
            sessions = [.. _sessions];
        }

        var measurements = new List<Measurement<long>>();
        foreach (var session in sessions)
        {
            var connector = session.Connector.Name;
            var hosts = session.Connector.HostsOf(session.Member);
            if (hosts.Count == 0)
            {
                measurements.Add(new Measurement<long>(0, new KeyValuePair<string, object?>(SessionTag, session.Name), new KeyValuePair<string, object?>(ConnectorTag, connector)));
            }

            // The key's parts, never the key parsed back: a host string is for people (an IPv6 one has brackets).
            foreach (var (key, held, waiting) in hosts)
            {
                var tags = Tags(session.Name, key.Scheme, key.Address, key.Port);
                tags.Add(ConnectorTag, connector);
                measurements.Add(new Measurement<long>(inUse ? held : waiting, tags));
            }
        }

        return measurements;
    }

    /// <summary>Each session's requests waiting for a limiter's permit.</summary>
    private List<Measurement<long>> ObservePermitWaits()
    {
        ClientSession[] sessions;
        lock (_gate)
        {
            sessions = [.. _sessions];
        }

        var measurements = new List<Measurement<long>>(sessions.Length);
        foreach (var session in sessions)
        {
            measurements.Add(new Measurement<long>(
                session.Stats.WaitingForPermit,
                new KeyValuePair<string, object?>(SessionTag, session.Name),
                new KeyValuePair<string, object?>(ConnectorTag, session.Connector.Name)));
        }

        return measurements;
    }

    /// <summary>
    /// Each connector's open connections, per host: connections belong to the connector, whichever session opened them.
    /// A connector a session owns is tagged with the session too.
    /// </summary>
    private List<Measurement<long>> ObserveConnections()
    {
        Connector[] connectors;
        lock (_gate)
        {
            connectors = [.. _connectors];
        }

        var measurements = new List<Measurement<long>>();
        foreach (var connector in connectors)
        {
            var hosts = connector.OpenConnectionsByHost();
            if (hosts.Count == 0)
            {
                measurements.Add(new Measurement<long>(0, ConnectorTags(connector)));
            }

            foreach (var (key, open) in hosts)
            {
                var tags = ConnectorTags(connector);
                tags.Add("server.address", key.Address);
                tags.Add("server.port", key.Port);
                tags.Add("url.scheme", key.Scheme);
                measurements.Add(new Measurement<long>(open, tags));
            }
        }

        return measurements;

        static TagList ConnectorTags(Connector connector)
        {
            var tags = new TagList { { ConnectorTag, connector.Name } };
            if (connector.IsOwned)
            {
                tags.Add(SessionTag, connector.Name);
            }

            return tags;
        }
    }
}
