using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// Limiters in admission, on the connector itself: a permit wait is a queue wait (order, priorities, no head-of-line
/// blocking across hosts, cancellation, deadlines, stats), permits are held with the slot until release, and a request
/// never holds a slot while it waits for a permit.
/// </summary>
public sealed class AdmissionLimiterTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);

    [Fact]
    public async Task AcquireAsync_ConcurrencyLimiterWithPermits_GrantsSynchronouslyAndHoldsThePermitUntilRelease()
    {
        using var limiter = Concurrency(2);
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);

        var first = connector.AcquireAsync(session, A, CancellationToken.None);
        var second = connector.AcquireAsync(session, B, CancellationToken.None);
        var third = connector.AcquireAsync(session, A, CancellationToken.None);

        Assert.True(first.IsCompletedSuccessfully);
        Assert.True(second.IsCompletedSuccessfully);
        Assert.False(third.IsCompleted);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);

        // Slots are free (Limit 10) but the third waits for a permit, and holds no slot meanwhile.
        var stats = connector.Stats;
        Assert.Equal((2, 1, 1), (stats.InUse, stats.Waiting, stats.WaitingForPermit));
        Assert.Equal(1, connector.StatsOf(session).WaitingForPermit);

        (await first).Release();
        var granted = await third.AsTask().WaitAsync(TestServer.Patience);
        Assert.Equal((2, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));

        granted.Release();
        (await second).Release();
        Assert.Equal(0, connector.Stats.InUse);
        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task AcquireAsync_PerHostLimiterExhaustedForOneHost_DoesNotHoldBackOtherHosts()
    {
        var perHost = AdmissionLimiter.PerHost(_ => Concurrency(1));
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [perHost]);
        var heldA = await connector.AcquireAsync(session, A, CancellationToken.None);
        var waitingA = connector.AcquireAsync(session, A, CancellationToken.None);

        // The slot left free goes to B's request, behind A's older waiter that lacks a permit: no head-of-line blocking.
        var b = connector.AcquireAsync(session, B, CancellationToken.None);
        Assert.True(b.IsCompletedSuccessfully);
        Assert.False(waitingA.IsCompleted);

        // A's waiter gets the permit A's request gives back, with the slot it freed.
        heldA.Release();
        (await waitingA.AsTask().WaitAsync(TestServer.Patience)).Release();
        (await b).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        await perHost.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_CancelledWhileWaitingForAPermit_LeavesTheQueueAndTheLimiterLosesNothing()
    {
        using var limiter = Concurrency(1);
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        using var cancellation = new CancellationTokenSource();
        var waiting = connector.AcquireAsync(session, A, cancellation.Token);

        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiting);
        Assert.Equal((1, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
        held.Release();

        // The limiter's queued acquisition, no one's any more, was cancelled: its permit is back, and the next request gets it.
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
        (await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience)).Release();
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Dropped_WaiterHoldingOnePermitOfTwo_GivesItBackWhenItLeaves()
    {
        using var free = Concurrency(1);
        using var exhausted = Concurrency(1);
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var owner = connector.Join("owner", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(exhausted)]);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(free), AdmissionLimiter.Create(exhausted)]);
        var held = await connector.AcquireAsync(owner, A, CancellationToken.None);
        using var cancellation = new CancellationTokenSource();

        var waiting = connector.AcquireAsync(session, A, cancellation.Token);
        Assert.Equal(0, free.GetStatistics()!.CurrentAvailablePermits);

        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiting);
        Assert.Equal(1, free.GetStatistics()!.CurrentAvailablePermits);
        held.Release();
        Assert.Equal(1, exhausted.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_PermitWaitPastItsDeadline_FailsWithTheDeadlinesKind()
    {
        var time = new FakeTimeProvider();
        using var limiter = Concurrency(1);
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var deadline = Deadline.InQueue(new ClientTimeout { Total = null, Connect = TimeSpan.FromSeconds(1) }, time.GetTimestamp(), time);

        var waiting = connector.AcquireAsync(session, A, CancellationToken.None, deadline);
        time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<QueueDeadlineExceededException>(async () => await waiting);
        Assert.Equal(TimeoutKind.Connect, error.Kind);
        Assert.Equal((1, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        held.Release();
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Release_SharedLimiterAcrossPriorities_TheNextPermitGoesToTheHigherPriorityThenOldestFirst()
    {
        using var limiter = Concurrency(1);
        var connector = new Connector("upstream", new ConnectorOptions { Limit = 10, Limiters = { AdmissionLimiter.Create(limiter) } });
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(0, 0, 0, 10));
        var held = await connector.AcquireAsync(bulk, A, CancellationToken.None);
        var bulkWaiters = Enumerable.Range(0, 3).Select(i => connector.AcquireAsync(bulk, i % 2 == 0 ? A : B, CancellationToken.None)).ToList();
        var urgent = connector.AcquireAsync(priority, B, CancellationToken.None);
        Assert.Equal(4, connector.Stats.WaitingForPermit);

        var tasks = bulkWaiters.Select(w => w.AsTask()).ToList();
        held.Release();
        var current = await urgent.AsTask().WaitAsync(TestServer.Patience);
        Assert.All(tasks, t => Assert.False(t.IsCompleted));

        // Within a priority, oldest first, across hosts.
        var order = new List<int>();
        for (var step = 0; step < tasks.Count; step++)
        {
            current.Release();
            var next = await Task.WhenAny(tasks.Where((_, i) => !order.Contains(i))).WaitAsync(TestServer.Patience);
            order.Add(tasks.IndexOf(next));
            current = await next;
        }

        current.Release();
        Assert.Equal([0, 1, 2], order);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        await connector.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_LimiterWithoutQueueOrPermit_RefusesWithRateLimitRejected()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var rejections = new MetricCollector<long>(meters, "AsyncHttp", "asynchttp.client.permit.rejections");
        using var bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromHours(1),
            QueueLimit = 0,
            AutoReplenishment = false,
        });
        await using var session = new ClientSession("s", new ClientSessionOptions { Limiters = { AdmissionLimiter.Create(bucket) } }, meterFactory: meters);
        await using var server = await TestServer.StartAsync();

        await using (var ok = await session.GetAsync(server.Url("/ok")))
        {
            Assert.Equal(200, ok.Status);
        }

        var error = await Assert.ThrowsAsync<RateLimitRejectedException>(() => session.GetAsync(server.Url("/ok")));
        Assert.Equal("s", error.SessionName);
        Assert.IsAssignableFrom<HttpRequestException>(error);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.Equal(1, rejections.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task GetAsync_ConcurrencyLimiterBelowLimit_TheServerNeverSeesMoreAndEverythingComesBack()
    {
        using var limiter = Concurrency(2, queue: 1);
        await using var server = await TestServer.StartAsync();
        await using var session = new ClientSession("s", new ClientSessionOptions { Limit = 10, Limiters = { AdmissionLimiter.Create(limiter) } });

        var requests = Enumerable.Range(0, 6).Select(i => session.GetAsync(server.Url($"/hold?id=l{i}&tag=limited"))).ToList();
        await server.WhenArrivals(2);
        Assert.Equal((2, 4, 4), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting, session.Stats.WaitingForPermit));
        for (var i = 0; i < 6; i++)
        {
            server.Open($"l{i}");
        }

        foreach (var request in requests)
        {
            await using var response = await request;
            Assert.StartsWith("done:", await response.ReadAsStringAsync());
        }

        Assert.Equal(2, server.MaxInFlightOf("limited"));
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task GetAsync_PermitWaitLongerThanConnect_FailsWithConnectTimeout()
    {
        var time = new SignalingTimeProvider();
        using var limiter = Concurrency(1);
        await using var server = await TestServer.StartAsync();
        await using var session = new ClientSession(
            "s",
            new ClientSessionOptions { Limiters = { AdmissionLimiter.Create(limiter) }, Timeout = new ClientTimeout { Connect = TimeSpan.FromSeconds(2) } },
            time);
        var held = session.GetAsync(server.Url("/hold?id=held"));
        await server.WhenArrivals(1);

        var waiting = session.GetAsync(server.Url("/ok"));
        Assert.Equal(1, session.Stats.WaitingForPermit);
        time.Advance(TimeSpan.FromSeconds(2));

        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => waiting);
        Assert.Equal(TimeSpan.FromSeconds(2), error.Timeout);
        Assert.Equal((1, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        server.Open("held");
        (await held).Dispose();
        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task AcquireAsync_TokenBucket_NeverGrantsMoreThanBurstPlusRateTimesTheWindow()
    {
        // The limiter runs on its own timer and Environment.TickCount (no TimeProvider): this checks a bound that a slow
        // machine cannot break (a slow machine grants fewer), never a rate. The rate reached is in docs/scale-out.md.
        const int Burst = 4;
        var period = TimeSpan.FromMilliseconds(50);
        using var bucket = new RecordingLimiter(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = period,
            QueueLimit = 1,
        }));
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(bucket)]);

        var leases = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => connector.AcquireAsync(session, i % 2 == 0 ? A : B, CancellationToken.None).AsTask()))
            .WaitAsync(TestServer.Patience);
        foreach (var lease in leases)
        {
            lease.Release();
        }

        // Each grant is noted after the limiter made it and before the connector asks for the next (one acquisition at a
        // time per limiter), so grants i+1..j were all made within the noted window [t_i, t_j].
        var noted = bucket.Grants;
        Assert.Equal(24, noted.Count);
        for (var i = 0; i < noted.Count; i++)
        {
            for (var j = i + 1; j < noted.Count; j++)
            {
                // A period's tokens arrive at once: count the periods begun in the window.
                var periods = (int)Math.Floor((noted[j] - noted[i]).TotalMilliseconds / period.TotalMilliseconds) + 1;
                Assert.True(j - i <= Burst + periods, $"{j - i} grants within {(noted[j] - noted[i]).TotalMilliseconds:F0} ms");
            }
        }

        var span = noted[^1] - noted[0];
        output.WriteLine($"24 grants of a token bucket of {Burst} refilled 1 per {period.TotalMilliseconds} ms: {(noted.Count - Burst) / span.TotalSeconds:F1}/s after the burst (the bucket's rate is {1000 / period.TotalMilliseconds}/s).");
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    private static ConcurrencyLimiter Concurrency(int permits, int queue = 1)
        => new(new ConcurrencyLimiterOptions { PermitLimit = permits, QueueLimit = queue, QueueProcessingOrder = QueueProcessingOrder.OldestFirst });

    /// <summary>Notes when the inner limiter granted each permit, on one clock, as it grants it.</summary>
    private sealed class RecordingLimiter(RateLimiter inner) : RateLimiter
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly List<TimeSpan> _grants = [];

        public List<TimeSpan> Grants
        {
            get
            {
                lock (_grants)
                {
                    return [.. _grants.Order()];
                }
            }
        }

        public override TimeSpan? IdleDuration => inner.IdleDuration;

        public override RateLimiterStatistics? GetStatistics() => inner.GetStatistics();

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => Record(inner.AttemptAcquire(permitCount));

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
            => Record(await inner.AcquireAsync(permitCount, cancellationToken));

        protected override void Dispose(bool disposing)
        {
            inner.Dispose();
            base.Dispose(disposing);
        }

        private RateLimitLease Record(RateLimitLease lease)
        {
            if (lease.IsAcquired)
            {
                lock (_grants)
                {
                    _grants.Add(_clock.Elapsed);
                }
            }

            return lease;
        }
    }
}
