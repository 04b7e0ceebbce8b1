using System.Diagnostics;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Observability;

/// <summary>Trace callbacks in order, the queue-wait span, and the log events of the request's life.</summary>
public sealed class ClientTraceTests : IAsyncLifetime
{
    private readonly List<string> _events = [];
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private ClientTrace Recorder()
    {
        void Add(ClientTraceEvent e)
        {
            lock (_events)
            {
                _events.Add(e.Kind.ToString());
            }
        }

        return new ClientTrace
        {
            OnRequestStart = Add, OnRequestEnd = Add, OnRequestException = Add, OnRequestRedirect = Add,
            OnConnectionQueuedStart = Add, OnConnectionQueuedEnd = Add, OnConnectionCreateStart = Add,
            OnConnectionCreateEnd = Add, OnConnectionReuse = Add, OnDnsResolveStart = Add, OnDnsResolveEnd = Add,
            OnDnsCacheHit = Add, OnDnsCacheMiss = Add,
        };
    }

    private List<string> TakeEvents()
    {
        lock (_events)
        {
            var taken = _events.ToList();
            _events.Clear();
            return taken;
        }
    }

    private static async Task FetchAsync(ClientSession session, Uri url)
    {
        await using var response = await session.GetAsync(url);
        await response.ReadAsStringAsync();
    }

    [Fact]
    public async Task Trace_NewConnectionThenReusedOne_InOrder()
    {
        await using var session = new ClientSession("t", traces: [Recorder()]);

        await FetchAsync(session, _server.Url("ok"));
        Assert.Equal(["RequestStart", "ConnectionCreateStart", "ConnectionCreateEnd", "RequestEnd"], TakeEvents());

        await FetchAsync(session, _server.Url("ok"));
        Assert.Equal(["RequestStart", "ConnectionReuse", "RequestEnd"], TakeEvents());
    }

    [Fact]
    public async Task Trace_QueuedRequest_InOrder()
    {
        await using var session = new ClientSession("t", new ClientSessionOptions { Limit = 1 }, traces: [Recorder()]);
        var first = session.GetAsync(_server.Url("hold?id=tq0"));
        await _server.WhenArrivals(1);
        TakeEvents();

        var second = session.GetAsync(_server.Url("hold?id=tq1"));
        Assert.Equal(["RequestStart", "ConnectionQueuedStart"], TakeEvents());
        _server.Open("tq0");
        _server.Open("tq1");

        // Read to its end, the first body leaves its connection in the pool for the second (one disposed unread would
        // close it, unless the rest of the body had already arrived).
        await using (var response = await first)
        {
            await response.ReadAsStringAsync();
        }

        (await second).Dispose();

        var rest = TakeEvents();
        Assert.Equal(["RequestEnd", "ConnectionQueuedEnd", "ConnectionReuse", "RequestEnd"], rest);
    }

    [Fact]
    public async Task Trace_DnsCacheMissThenHit_ForAHostName()
    {
        await using var session = new ClientSession("t", new ClientSessionOptions { ForceClose = true }, traces: [Recorder()]);
        var local = new UriBuilder(_server.BaseAddress) { Host = "localhost", Path = "ok" }.Uri;

        await FetchAsync(session, local);
        var first = TakeEvents();
        await FetchAsync(session, local);
        var second = TakeEvents();

        Assert.Equal(["RequestStart", "ConnectionCreateStart", "DnsCacheMiss", "DnsResolveStart", "DnsResolveEnd", "ConnectionCreateEnd", "RequestEnd"], first);
        Assert.Equal(["RequestStart", "ConnectionCreateStart", "DnsCacheHit", "ConnectionCreateEnd", "RequestEnd"], second);
    }

    [Fact]
    public async Task Trace_RedirectAndException_AreReported()
    {
        await using var session = new ClientSession("t", traces: [Recorder()]);

        await FetchAsync(session, _server.Url("chain/1"));
        Assert.Contains("RequestRedirect", TakeEvents());

        await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/"));
        Assert.Equal("RequestException", TakeEvents()[^1]);
    }

    [Fact]
    public async Task Activity_QueueWaitSpan_OnlyWhenQueued_AndChildOfTheCallersActivity()
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "AsyncHttp" or "test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                lock (spans)
                {
                    spans.Add(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test");
        await using var session = new ClientSession("spans", new ClientSessionOptions { Limit = 1 });

        using var caller = source.StartActivity("caller")!;
        var first = session.GetAsync(_server.Url("hold?id=sp0"));
        await _server.WhenArrivals(1);
        var second = session.GetAsync(_server.Url("hold?id=sp1"));
        _server.Open("sp0");
        _server.Open("sp1");
        (await first).Dispose();
        (await second).Dispose();

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(s => s.OperationName == "asynchttp.queue.wait" && s.TraceId == caller.TraceId).ToList();
        }

        var span = Assert.Single(mine);
        Assert.Equal(caller.SpanId, span.ParentSpanId);
        Assert.Equal("spans", span.GetTagItem("asynchttp.session"));
    }

    [Fact]
    public async Task Logs_QueueWaitTimeoutAndConnectFailure_HaveStableEventIds()
    {
        var time = new SignalingTimeProvider();
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("logs", new ClientSessionOptions { Limit = 1, Timeout = { Connect = TimeSpan.FromSeconds(5) } }, time, logs);
        var held = session.GetAsync(_server.Url("hold?id=lg0"));
        await _server.WhenArrivals(1);
        var timedOut = session.GetAsync(_server.Url("hold?id=lg1"));
        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<ConnectTimeoutException>(() => timedOut);
        var queued = session.GetAsync(_server.Url("ok"));
        _server.Open("lg0");
        (await held).Dispose();
        (await queued).Dispose();
        await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/"));

        var ids = logs.Entries.Select(e => e.EventId.Id).ToHashSet();
        Assert.Superset(new HashSet<int> { 1001, 1004, 1005, 1006, 1008, 1009 }, ids);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 1008 && e.Level == LogLevel.Information && e.Message.Contains("Connect", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 1009 && e.Level == LogLevel.Warning);
    }

    private sealed class PassThrough : DelegatingHandler;

    [Theory]
    [InlineData(TraceEventKind.RequestStart, false)]
    [InlineData(TraceEventKind.RequestStart, true)]
    [InlineData(TraceEventKind.ConnectionQueuedStart, false)]
    [InlineData(TraceEventKind.ConnectionQueuedStart, true)]
    [InlineData(TraceEventKind.ConnectionQueuedEnd, false)]
    [InlineData(TraceEventKind.ConnectionQueuedEnd, true)]
    [InlineData(TraceEventKind.ConnectionReuse, false)]
    [InlineData(TraceEventKind.ConnectionReuse, true)]
    [InlineData(TraceEventKind.RequestRedirect, false)]
    [InlineData(TraceEventKind.RequestRedirect, true)]
    [InlineData(TraceEventKind.RequestEnd, false)]
    [InlineData(TraceEventKind.RequestEnd, true)]
    public async Task Trace_CallbackThatThrows_FailsItsRequestAndLeaksNoSlot(TraceEventKind throwing, bool withMiddleware)
    {
        // Only the request under test throws: its URL is /ok or /redirect, the one ahead of it is /hold.
        void Throw(ClientTraceEvent e)
        {
            if (e.Kind == throwing && e.Url?.AbsolutePath is "/ok" or "/redirect")
            {
                throw new InvalidOperationException($"trace {e.Kind}");
            }
        }

        var trace = new ClientTrace
        {
            OnRequestStart = Throw, OnRequestEnd = Throw, OnRequestRedirect = Throw, OnConnectionQueuedStart = Throw,
            OnConnectionQueuedEnd = Throw, OnConnectionReuse = Throw,
        };
        await using var session = new ClientSession(
            "t", new ClientSessionOptions { Limit = 1 }, middlewares: withMiddleware ? [() => new PassThrough()] : null, traces: [trace]);
        var id = $"tx-{throwing}-{withMiddleware}";
        var held = session.GetAsync(_server.Url($"hold?id={id}"));
        await _server.WhenArrived(id);

        // Behind a full limit of 1 it queues, then reuses the connection the first request leaves.
        var failing = session.GetAsync(_server.Url(throwing == TraceEventKind.RequestRedirect ? "redirect?to=/headers" : "ok"));
        _server.Open(id);
        await using (var first = await held.WaitAsync(TestServer.Patience))
        {
            Assert.Equal($"done:{id}", await first.ReadAsStringAsync());
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failing.WaitAsync(TestServer.Patience));
        Assert.Equal($"trace {throwing}", error.Message);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await using var after = await session.GetAsync(_server.Url("headers")).WaitAsync(TestServer.Patience);
        Assert.Equal(200, after.Status);
    }
}
