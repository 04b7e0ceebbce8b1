using System.Diagnostics.Metrics;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncHttp.Tests.Observability;

/// <summary>The AsyncHttp meter under a known load, read with MetricCollector from a meter factory of the test's own.</summary>
public sealed partial class ClientMetricsTests : IAsyncLifetime
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private TestServer _server = null!;

    private IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _services.DisposeAsync();
    }

    private MetricCollector<T> Collect<T>(string instrument) where T : struct => new(Meters, "AsyncHttp", instrument);

    private static long SessionTotal(MetricCollector<long> collector, string session)
    {
        collector.RecordObservableInstruments();
        var snapshot = collector.GetMeasurementSnapshot();

        // Each collection reports every host of the session once; the last collection is the current value.
        return snapshot.Where(m => (string?)m.Tags["asynchttp.session"] == session).GroupBy(m => m.Timestamp).Last().Sum(m => m.Value);
    }

    private static long ConnectorTotal(MetricCollector<long> collector, string connector)
    {
        collector.RecordObservableInstruments();
        return collector.GetMeasurementSnapshot().Where(m => (string?)m.Tags["asynchttp.connector"] == connector).GroupBy(m => m.Timestamp).Last().Sum(m => m.Value);
    }

    [Fact]
    public async Task Gauges_LimitTwoWithFiveHeldRequests_ShowTwoInFlightAndThreeQueued()
    {
        using var inFlight = Collect<long>("asynchttp.client.requests.in_flight");
        using var depth = Collect<long>("asynchttp.client.queue.depth");
        using var open = Collect<long>("asynchttp.client.connections.open");
        await using var session = new ClientSession("gauges", new ClientSessionOptions { Limit = 2 }, meterFactory: Meters);
        var requests = Enumerable.Range(0, 5).Select(i => session.GetAsync(_server.Url($"hold?id=m{i}"))).ToList();
        await _server.WhenArrivals(2);

        Assert.Equal(2, SessionTotal(inFlight, "gauges"));
        Assert.Equal(3, SessionTotal(depth, "gauges"));
        Assert.Equal(2, SessionTotal(open, "gauges"));
        var tags = inFlight.LastMeasurement!.Tags;
        Assert.Equal("127.0.0.1", tags["server.address"]);
        Assert.Equal(_server.BaseAddress.Port, tags["server.port"]);
        Assert.Equal("http", tags["url.scheme"]);

        for (var i = 0; i < 5; i++)
        {
            _server.Open($"m{i}");
        }

        foreach (var request in requests)
        {
            (await request).Dispose();
        }

        Assert.Equal(0, SessionTotal(inFlight, "gauges"));
        Assert.Equal(0, SessionTotal(depth, "gauges"));
    }

    [Fact]
    public async Task Gauges_SessionsOnASharedConnector_EachReportTheirShare_TheConnectorItsConnections()
    {
        using var inFlight = Collect<long>("asynchttp.client.requests.in_flight");
        using var depth = Collect<long>("asynchttp.client.queue.depth");
        using var open = Collect<long>("asynchttp.client.connections.open");
        await using var connector = new Connector("shared-gauges", new ConnectorOptions { Limit = 3 }, meterFactory: Meters);
        await using var bulk = new ClientSession("gauges-bulk", connector, new ClientSessionOptions { Limit = 2 }, meterFactory: Meters);
        await using var priority = new ClientSession("gauges-priority", connector, new ClientSessionOptions { Priority = 1 }, meterFactory: Meters);
        var requests = Enumerable.Range(0, 4).Select(i => bulk.GetAsync(_server.Url($"hold?id=sg{i}"))).ToList();
        requests.Add(priority.GetAsync(_server.Url("hold?id=sg4")));
        await _server.WhenArrivals(3);

        Assert.Equal((2, 2), (SessionTotal(inFlight, "gauges-bulk"), SessionTotal(depth, "gauges-bulk")));
        Assert.Equal((1, 0), (SessionTotal(inFlight, "gauges-priority"), SessionTotal(depth, "gauges-priority")));
        Assert.All(inFlight.GetMeasurementSnapshot(), m => Assert.Equal("shared-gauges", m.Tags["asynchttp.connector"]));

        // Connections are the connector's, reported once, whichever session opened them.
        open.RecordObservableInstruments();
        var connections = open.GetMeasurementSnapshot().Where(m => (string?)m.Tags["asynchttp.connector"] == "shared-gauges").GroupBy(m => m.Timestamp).Last().ToList();
        Assert.Equal(3, connections.Sum(m => m.Value));
        Assert.All(connections, m => Assert.False(m.Tags.ContainsKey("asynchttp.session")));

        for (var i = 0; i < 5; i++)
        {
            _server.Open($"sg{i}");
        }

        foreach (var request in requests)
        {
            (await request).Dispose();
        }

        Assert.Equal((0, 0), (SessionTotal(inFlight, "gauges-bulk"), SessionTotal(depth, "gauges-bulk")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Gauges_ConnectorClosed_NoLongerReportItsConnections(bool shared)
    {
        using var open = Collect<long>("asynchttp.client.connections.open");
        var name = shared ? "closing-shared" : "closing-owned";
        var connector = shared ? new Connector(name, new ConnectorOptions(), meterFactory: Meters) : null;
        var session = connector is null
            ? new ClientSession(name, new ClientSessionOptions(), meterFactory: Meters)
            : new ClientSession(name + "-session", connector, new ClientSessionOptions(), meterFactory: Meters);
        (await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience)).Dispose();
        Assert.Equal(1, ConnectorTotal(open, name));

        // A session that owns its connector closes it; a shared one is closed by its owner.
        await session.DisposeAsync();
        if (connector is not null)
        {
            await connector.DisposeAsync();
        }

        open.GetMeasurementSnapshot(clear: true);
        open.RecordObservableInstruments();
        Assert.DoesNotContain(open.GetMeasurementSnapshot(), m => (string?)m.Tags["asynchttp.connector"] == name);
    }

    [Fact]
    public async Task QueueDuration_OnASharedConnector_IsTaggedWithTheConnectorAndThePriority()
    {
        var time = new SignalingTimeProvider();
        using var queueTime = Collect<double>("asynchttp.client.queue.duration");
        await using var connector = new Connector("shared-queue", new ConnectorOptions { Limit = 1 }, time, meterFactory: Meters);
        await using var bulk = new ClientSession("queue-bulk", connector, new ClientSessionOptions { Timeout = { Total = null } }, meterFactory: Meters);
        await using var priority = new ClientSession("queue-priority", connector, new ClientSessionOptions { Priority = 7, Timeout = { Total = null } }, meterFactory: Meters);
        var first = bulk.GetAsync(_server.Url("hold?id=sq0"));
        await _server.WhenArrivals(1);
        var queuedBulk = bulk.GetAsync(_server.Url("hold?id=sq1"));
        var queuedPriority = priority.GetAsync(_server.Url("hold?id=sq2"));

        time.Advance(TimeSpan.FromSeconds(3));
        _server.Open("sq0");
        (await first).Dispose();
        await _server.WhenArrived("sq2");
        time.Advance(TimeSpan.FromSeconds(1));
        _server.Open("sq2");
        (await queuedPriority).Dispose();
        _server.Open("sq1");
        (await queuedBulk).Dispose();

        var waits = queueTime.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags["asynchttp.session"]!);
        Assert.Equal((3.0, 7), (waits["queue-priority"].Value, waits["queue-priority"].Tags["asynchttp.priority"]));
        Assert.Equal((4.0, 0), (waits["queue-bulk"].Value, waits["queue-bulk"].Tags["asynchttp.priority"]));
        Assert.All(waits.Values, m => Assert.Equal("shared-queue", m.Tags["asynchttp.connector"]));
    }

    [Fact]
    public async Task QueueDuration_IsRecordedForQueuedRequestsOnly_InFakeTime()
    {
        var time = new SignalingTimeProvider();
        using var queueTime = Collect<double>("asynchttp.client.queue.duration");
        await using var session = new ClientSession("queue", new ClientSessionOptions { Limit = 1, Timeout = { Total = null } }, time, meterFactory: Meters);
        var first = session.GetAsync(_server.Url("hold?id=qd0"));
        await _server.WhenArrivals(1);
        var queued = Enumerable.Range(1, 3).Select(i => session.GetAsync(_server.Url($"hold?id=qd{i}"))).ToList();

        time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 4; i++)
        {
            _server.Open($"qd{i}");
        }

        foreach (var request in queued.Prepend(first))
        {
            (await request).Dispose();
        }

        var waits = queueTime.GetMeasurementSnapshot();
        Assert.Equal(3, waits.Count);
        Assert.All(waits, m => Assert.Equal(2.0, m.Value));
        Assert.All(waits, m => Assert.Equal("queue", m.Tags["asynchttp.session"]));
    }

    [Fact]
    public async Task RequestDuration_IsRecordedAtRelease_WithStatusOrErrorType()
    {
        var time = new SignalingTimeProvider();
        using var duration = Collect<double>("asynchttp.client.request.duration");
        await using var session = new ClientSession("durations", new ClientSessionOptions(), time, meterFactory: Meters);

        var response = await session.GetAsync(_server.Url("slowbody?id=rd"));
        time.Advance(TimeSpan.FromSeconds(3)); // the body is still on the wire: the request is not over yet
        Assert.Empty(duration.GetMeasurementSnapshot());
        _server.Open("rd");
        await response.ReadAsStringAsync();
        await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/"));

        var measurements = duration.GetMeasurementSnapshot();
        Assert.Equal(2, measurements.Count);
        var ok = measurements[0];
        Assert.Equal(3.0, ok.Value);
        Assert.Equal(200, ok.Tags["http.response.status_code"]);
        Assert.Equal("GET", ok.Tags["http.request.method"]);
        Assert.False(ok.Tags.ContainsKey("error.type"));
        Assert.Equal(typeof(ClientConnectorException).FullName, measurements[1].Tags["error.type"]);
    }

    [Fact]
    public async Task RequestDuration_UnknownMethodAndErrorStatus_FollowTheOpenTelemetryHttpClientConventions()
    {
        using var duration = Collect<double>("asynchttp.client.request.duration");
        await using var session = new ClientSession("conventions", meterFactory: Meters);

        (await session.SendAsync(new HttpMethod("PURGE"), _server.Url("method"))).Dispose();
        (await session.SendAsync(new HttpMethod("get"), _server.Url("method"))).Dispose();
        (await session.PatchAsync(_server.Url("method").ToString(), new StringContent("x"))).Dispose();
        (await session.GetAsync(_server.Url("missing"))).Dispose();

        var tags = duration.GetMeasurementSnapshot().Select(m => m.Tags).ToList();
        Assert.Equal(["_OTHER", "_OTHER", "PATCH", "GET"], tags.Select(t => t["http.request.method"]));
        Assert.All(tags, t => Assert.Equal("http", t["url.scheme"]));
        Assert.All(tags, t => Assert.Equal("127.0.0.1", t["server.address"]));

        // A response with an error status is a failed request: its status code, as a string, is the error type.
        Assert.Equal(404, tags[3]["http.response.status_code"]);
        Assert.Equal("404", tags[3]["error.type"]);
        Assert.All(tags.Take(3), t => Assert.False(t.ContainsKey("error.type")));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public void Histograms_AsTheMeterPublishesThem_CarryBucketAdviceFitForTheirUnit()
    {
        var published = new Dictionary<string, Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Scope == Meters && instrument.Meter.Name == "AsyncHttp")
                {
                    published[instrument.Name] = instrument;
                }
            },
        };
        listener.Start();
        using var session = new ClientSession("advice", meterFactory: Meters);

        var queue = ((Histogram<double>)published["asynchttp.client.queue.duration"]).Advice!.HistogramBucketBoundaries!;
        var request = ((Histogram<double>)published["asynchttp.client.request.duration"]).Advice!.HistogramBucketBoundaries!;

        foreach (var boundaries in new[] { queue, request })
        {
            Assert.Equal(boundaries.Order(), boundaries);
            Assert.Equal(boundaries.Count, boundaries.Distinct().Count());
        }

        // Seconds, with sub-second resolution (an exporter's default puts everything under 5 s in one bucket) and
        // buckets up to Total's default of 5 minutes: a request runs to its release, body included.
        Assert.True(queue[0] <= 0.001, $"first queue bucket {queue[0]}");
        Assert.True(request[0] <= 0.005, $"first request bucket {request[0]}");
        Assert.True(request.Count(b => b < 1) >= 5);
        Assert.Equal(300, request[^1]);
        Assert.Equal(300, queue[^1]);
    }

    [Fact]
    public async Task Transport_SessionWithMeterFactory_ReportsSystemNetHttpMetricsThroughIt()
    {
        using var transport = new MetricCollector<double>(Meters, "System.Net.Http", "http.client.request.duration");
        await using var session = new ClientSession("transport", meterFactory: Meters);

        await using (var response = await session.GetAsync(_server.Url("ok")))
        {
            await response.ReadAsStringAsync();
        }

        // Only a meter made by this factory reaches this collector: the handler took the session's factory.
        var measurement = Assert.Single(transport.GetMeasurementSnapshot());
        Assert.Equal("127.0.0.1", measurement.Tags["server.address"]);
        Assert.Equal(200, measurement.Tags["http.response.status_code"]);
    }

    [Fact]
    public async Task Counters_CountTimeoutsByKindAndQueueRejections()
    {
        var time = new SignalingTimeProvider();
        using var timeouts = Collect<long>("asynchttp.client.timeouts");
        using var rejections = Collect<long>("asynchttp.client.queue.rejections");
        await using var session = new ClientSession("counters", new ClientSessionOptions { Limit = 1, QueueLimit = 1, Timeout = { Connect = TimeSpan.FromSeconds(5) } }, time, meterFactory: Meters);
        var held = session.GetAsync(_server.Url("hold?id=ct0"));
        await _server.WhenArrivals(1);
        var queued = session.GetAsync(_server.Url("hold?id=ct1"));

        await Assert.ThrowsAsync<QueueFullException>(() => session.GetAsync(_server.Url("hold?id=ct2")));
        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<ConnectTimeoutException>(() => queued);

        Assert.Equal(1, rejections.GetMeasurementSnapshot().EvaluateAsCounter());
        var timeout = Assert.Single(timeouts.GetMeasurementSnapshot());
        Assert.Equal("Connect", timeout.Tags["asynchttp.timeout.kind"]);
        Assert.Equal("counters", timeout.Tags["asynchttp.session"]);
        _server.Open("ct0");
        (await held).Dispose();
    }
}
