using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// The instruments of one <c>AsyncHttp</c> meter, shared by every session that reports to it. The gauges (requests in
/// flight, queue depth, open connections) are observed from each live session's connector when a collector asks,
/// so they cost nothing per request; histograms and counters are recorded only while someone listens.
/// </summary>
internal sealed class ClientMetrics
{
    public const string MeterName = "AsyncHttp";
    public const string SessionTag = "asynchttp.session";

    private static readonly Meter DefaultMeter = new(MeterName);
    private static readonly ConditionalWeakTable<Meter, ClientMetrics> ByMeter = [];

    private readonly Lock _gate = new();
    private readonly List<ClientSession> _sessions = [];

    private ClientMetrics(Meter meter)
    {
        QueueDuration = meter.CreateHistogram<double>("asynchttp.client.queue.duration", "s", "Time a request waited in the connector's queue for a slot.");
        RequestDuration = meter.CreateHistogram<double>("asynchttp.client.request.duration", "s", "Time from the call to the release of the response (end of body or dispose).");
        Timeouts = meter.CreateCounter<long>("asynchttp.client.timeouts", "{timeout}", "Timeouts that fired, by kind.");
        QueueRejections = meter.CreateCounter<long>("asynchttp.client.queue.rejections", "{request}", "Requests rejected because the queue was full.");
        meter.CreateObservableUpDownCounter("asynchttp.client.requests.in_flight", () => Observe(static h => h.InUse), "{request}", "Requests holding a slot, from admission to release.");
        meter.CreateObservableUpDownCounter("asynchttp.client.queue.depth", () => Observe(static h => h.Waiting), "{request}", "Requests waiting in the connector's queue.");
        meter.CreateObservableUpDownCounter("asynchttp.client.connections.open", () => Observe(static h => h.OpenConnections), "{connection}", "Open connections, idle or busy.");
    }

    public Histogram<double> QueueDuration { get; }

    public Histogram<double> RequestDuration { get; }

    public Counter<long> Timeouts { get; }

    public Counter<long> QueueRejections { get; }

    public static ClientMetrics For(IMeterFactory? factory)
    {
        var meter = factory?.Create(new MeterOptions(MeterName)) ?? DefaultMeter;
        return ByMeter.GetValue(meter, static m => new ClientMetrics(m));
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

    public static TagList Tags(string session, string host, int port)
        => new() { { SessionTag, session }, { "server.address", host }, { "server.port", port } };

    private List<Measurement<long>> Observe(Func<HostStats, int> value)
    {
        ClientSession[] sessions;
        lock (_gate)
        {
            sessions = [.. _sessions];
        }

        var measurements = new List<Measurement<long>>();
        foreach (var session in sessions)
        {
            var stats = session.Connector.Stats;
            if (stats.Hosts.Count == 0)
            {
                measurements.Add(new Measurement<long>(0, new KeyValuePair<string, object?>(SessionTag, session.Name)));
            }

            // The key's parts, never the key parsed back: a host string is for people (an IPv6 one has brackets).
            foreach (var host in stats.Hosts)
            {
                measurements.Add(new Measurement<long>(value(host), Tags(session.Name, host.Address, host.Port)));
            }
        }

        return measurements;
    }
}
