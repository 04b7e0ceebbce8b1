using System.Threading.RateLimiting;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// A connector's life as its creator sees it, tried the wrong ways: bad options, a null, reconfiguring or closing one a
/// session owns, a reconfiguration that swaps the transport with connections idle or in flight, a close during a
/// reconfiguration, a limiter that fails as the connector closes; and where the connector's own logs go.
/// </summary>
public sealed class ConnectorLifecycleTests : IAsyncLifetime
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void Constructor_InvalidOptions_FailsNamingTheConnectorAndEachBadSetting()
    {
        var error = Assert.Throws<ArgumentException>(() => new Connector("edge", new ConnectorOptions { Limit = -1, Limiters = null!, Version = null! }));

        Assert.Equal("options", error.ParamName);
        Assert.StartsWith("Invalid options for connector 'edge': Limit ", error.Message, StringComparison.Ordinal);
        Assert.Contains("Version must be 1.0, 1.1 or 2.0; it is null.", error.Message, StringComparison.Ordinal);
        Assert.Contains("it is null. Limiters must not be null; leave it empty for none.", error.Message, StringComparison.Ordinal);
        var withNull = Assert.Throws<ArgumentException>(() => new Connector("edge", new ConnectorOptions { Limiters = { null! } }));
        Assert.Contains("Limiters must not contain null.", withNull.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReconfigureAndClose_OnAConnectorASessionOwns_FailSayingWhatToCallInstead()
    {
        await using var session = new ClientSession("own", new ClientSessionOptions { Limit = 3 });

        var reconfigure = Assert.Throws<InvalidOperationException>(() => session.Connector.Reconfigure(new ConnectorOptions()));
        var close = await Assert.ThrowsAsync<InvalidOperationException>(() => session.Connector.CloseAsync());
        var dispose = Assert.Throws<InvalidOperationException>(() => session.Connector.Dispose());

        Assert.Equal("Connector 'own' belongs to session 'own', which reconfigures it with itself: call Reconfigure on the session, not on its connector.", reconfigure.Message);
        Assert.Equal("Connector 'own' belongs to session 'own', which closes it with itself: call CloseAsync on the session, not on its connector.", close.Message);
        Assert.Equal(close.Message, dispose.Message);
        Assert.Equal(3, session.Connector.Stats.Limit);
        Assert.Throws<ArgumentNullException>("options", () => session.Connector.Reconfigure(null!));
    }

    [Fact]
    public async Task Dispose_SharedConnectorWithAWaiter_FailsItClosesAndRefusesReconfiguration()
    {
        var connector = new Connector("shared", new ConnectorOptions { Limit = 1 });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        connector.Dispose();

        var error = await Assert.ThrowsAsync<SessionClosedException>(() => queued.WaitAsync(TestServer.Patience));
        Assert.Contains("Connector 'shared' of session 's' was closed", error.Message, StringComparison.Ordinal);
        Assert.True(connector.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => connector.Reconfigure(new ConnectorOptions { Limit = 2 }));
        Assert.Throws<ObjectDisposedException>(() => connector.Reconfigure(new ConnectorOptions { Limit = 1, KeepAliveTimeout = TimeSpan.FromSeconds(7) }));
        held.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task CloseAsync_AWaiterUnderADeadline_StopsTheDeadlineTimer()
    {
        var time = new TimerCountingTimeProvider();
        var connector = new Connector("deadlines", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var deadline = Deadline.InQueue(new ClientTimeout { Total = null, Connect = TimeSpan.FromSeconds(2) }, time.GetTimestamp(), time);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None, deadline).AsTask();
        Assert.Equal(1, time.LiveTimers);

        var closing = connector.CloseAsync();

        await Assert.ThrowsAsync<SessionClosedException>(() => queued.WaitAsync(TestServer.Patience));
        held.Release();
        await closing.WaitAsync(TestServer.Patience);
        Assert.Equal(0, time.LiveTimers);
    }

    [Fact]
    public async Task Reconfigure_QueueLimitKeepsTheTransport_AConnectionSettingReplacesItAndClosesItsIdleConnectionsAtOnce()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 4 });
        await using var session = new ClientSession("s", connector, new ClientSessionOptions { BaseAddress = _server.BaseAddress });
        Assert.Equal("hello", await FetchAsync(session));
        Assert.Equal(1, connector.Stats.OpenConnections);

        // The queue's bound shapes no connection: the transport stays, and its idle connection with it.
        connector.Reconfigure(new ConnectorOptions { Limit = 4, QueueLimit = 10 });

        Assert.Equal((10, 1), (connector.Stats.QueueLimit, connector.Stats.OpenConnections));
        Assert.Equal("hello", await FetchAsync(session));
        Assert.Equal(1, _server.AcceptedConnections);

        connector.Reconfigure(new ConnectorOptions { Limit = 4, QueueLimit = 10, KeepAliveTimeout = TimeSpan.FromSeconds(7) });

        // No request was using the old transport: it went at once, with the idle connection it pooled.
        Assert.Equal(0, connector.Stats.OpenConnections);
        Assert.Equal("hello", await FetchAsync(session));
        Assert.Equal(2, _server.AcceptedConnections);
        Assert.Equal((0, 0, 1), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.OpenConnections));
    }

    [Fact]
    public async Task Reconfigure_ConnectionSettingWhileASlotUsesTheOldTransport_ItGoesWhenThatSlotComesBack()
    {
        await using var connector = new Connector("upstream", new ConnectorOptions { Limit = 4 });
        await using var session = new ClientSession("s", connector, new ClientSessionOptions { BaseAddress = _server.BaseAddress });
        await using var response = await session.GetAsync("ok");

        connector.Reconfigure(new ConnectorOptions { Limit = 4, KeepAliveTimeout = TimeSpan.FromSeconds(7) });

        // The response still reads through the transport its slot was granted on.
        Assert.Equal(1, connector.Stats.OpenConnections);
        Assert.Equal("hello", await response.ReadAsStringAsync());

        // Its body read, the slot came back, the last of the old transport: it went, with the connection it had pooled.
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.OpenConnections));
        Assert.Equal("hello", await FetchAsync(session));
        Assert.Equal(2, _server.AcceptedConnections);
    }

    [Fact]
    public async Task Dispose_TwoSlotsStillOnARetiredTransport_TheirReleasesCountThemOffIt()
    {
        // Two slots on the first transport, which a connection setting then retires; the connector is disposed before
        // they come back. The close disposes every transport, but the retired one must stay counted until its slots are
        // back: a Debug build checks on each release that the transports carry as many slots as the connector counts, and
        // a failed check fails the test.
        var connector = new Connector("s", limit: 4, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var first = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var second = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        connector.Reconfigure(new ConnectorOptions { Limit = 4, KeepAliveTimeout = TimeSpan.FromSeconds(7) });

        await connector.DisposeAsync();
        first.Release();
        second.Release();

        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public void Reconfigure_ConnectorClosedWhileItsNewTransportIsBuilt_FailsAndDisposesWhatItBuilt()
    {
        Connector? connector = null;
        var built = new List<RecordingHandler>();
        var closeOnBuild = false;
        var options = new ConnectorOptions
        {
            TransportFactory = context =>
            {
                if (closeOnBuild)
                {
                    _ = connector!.CloseAsync();
                }

                var handler = new RecordingHandler();
                built.Add(handler);
                return handler;
            },
        };
        connector = new Connector("shared", options);
        var changed = options.Clone();
        changed.KeepAliveTimeout = TimeSpan.FromSeconds(7);
        closeOnBuild = true;

        Assert.Throws<ObjectDisposedException>(() => connector.Reconfigure(changed));

        Assert.Equal(2, built.Count);
        Assert.True(built[1].Disposed, "the transport built for a closed connector is disposed at once");
        Assert.True(connector.IsClosed);

        // Closed now: a reconfiguration fails before it builds anything.
        changed.KeepAliveTimeout = TimeSpan.FromSeconds(9);
        Assert.Throws<ObjectDisposedException>(() => connector.Reconfigure(changed));
        Assert.Equal(2, built.Count);
    }

    [Fact]
    public async Task CloseAsync_ALimiterFailsAsItIsDetached_TheCloseCarriesItsFailure()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("shared", new ConnectorOptions { Limiters = { new FailingOnDetach(limiter) } });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => connector.CloseAsync().WaitAsync(TestServer.Patience));

        Assert.Equal("the store is gone", error.Message);
        Assert.True(connector.IsClosed);
    }

    [Fact]
    public async Task Logs_ConnectFailureOfAMessageNoSessionPrepared_GoToTheConnectorsOwnCategory()
    {
        var logs = new CapturingLoggerProvider();
        var refused = new Uri($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/");
        await using var connector = new Connector("shared", new ConnectorOptions { Limit = 2 }, loggerFactory: logs);
        await using var session = new ClientSession("s", connector, new ClientSessionOptions(), middlewares: [() => new OwnMessageHandler(refused)]);

        await using (var response = await session.GetAsync(_server.Url("ok")))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        Assert.Contains(logs.Entries, e => e.Category == "AsyncHttp.Connector.shared" && e.EventId.Name == "ConnectFailed");
    }

    [Fact]
    public void Stats_RecordsMadeByHand_StartEmptyNotNull()
    {
        var host = new HostStats("http://a.test:80", 1, 0, 1);
        var stats = new ConnectorStats(1, 0, 0, 1, 0, 1, [host]);

        Assert.Equal(("", "", 0, TimeSpan.Zero, null), (host.Scheme, host.Address, host.Port, host.PausedFor, host.Proxy));
        Assert.Equal(("", 0, 0L, TimeSpan.Zero), (stats.Name, stats.Sessions.Count, stats.ConnectionsOpened, stats.OldestWait));
    }

    private static async Task<string> FetchAsync(ClientSession session)
    {
        await using var response = await session.GetAsync("ok");
        return await response.ReadAsStringAsync();
    }

    /// <summary>Sends a message of its own (a probe) to <paramref name="url"/> first, ignoring its failure.</summary>
    private sealed class OwnMessageHandler(Uri url) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using var own = new HttpRequestMessage(HttpMethod.Get, url);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => base.SendAsync(own, cancellationToken));
            return await base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class RecordingHandler : HttpMessageHandler
    {
        public bool Disposed { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    private sealed class FailingOnDetach(RateLimiter limiter) : AdmissionLimiter(limiter, ownsLimiter: false)
    {
        protected internal override void OnDetached(Connector connector) => throw new InvalidOperationException("the store is gone");
    }

    [Fact]
    public async Task CloseAsync_AHostPausedByRetryAfter_StopsThePauseTimer()
    {
        var time = new TimerCountingTimeProvider();
        var connector = new Connector("pauses", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        connector.Join("s", new SessionCaps(0, 0, 0, 0));
        connector.PauseFromResponse(A, TimeSpan.FromSeconds(30), "s");
        Assert.Equal(1, time.LiveTimers);

        await connector.CloseAsync().WaitAsync(TestServer.Patience);

        // A closed connector keeps no timer armed: the pause would otherwise hold the connector until it ends.
        Assert.Equal(0, time.LiveTimers);
    }

    /// <summary>A fake clock that counts the timers created on it and not yet disposed.</summary>
    private sealed class TimerCountingTimeProvider : Microsoft.Extensions.Time.Testing.FakeTimeProvider
    {
        private int _live;

        public int LiveTimers => Volatile.Read(ref _live);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _live);
            return new CountedTimer(base.CreateTimer(callback, state, dueTime, period), this);
        }

        private sealed class CountedTimer(ITimer inner, TimerCountingTimeProvider owner) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._live);
                }

                inner.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
