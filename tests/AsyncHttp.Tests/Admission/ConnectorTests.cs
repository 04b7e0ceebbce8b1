using AsyncHttp.Internal;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>Admission semantics on the connector itself: order, no barging, no head-of-line blocking, cancellation.</summary>
public sealed class ConnectorTests
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);

    [Fact]
    public async Task AcquireAsync_Uncontended_CompletesSynchronously()
    {
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));

        var first = connector.AcquireAsync(session, A, CancellationToken.None);
        var second = connector.AcquireAsync(session, A, CancellationToken.None);
        var third = connector.AcquireAsync(session, A, CancellationToken.None);

        Assert.True(first.IsCompletedSuccessfully);
        Assert.True(second.IsCompletedSuccessfully);
        Assert.False(third.IsCompleted);
        Assert.Equal((2, 1), (connector.Stats.InUse, connector.Stats.Waiting));

        (await first).Release();
        var host = await third;
        Assert.Equal((2, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        host.Release();
        (await second).Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task Release_WithWaiters_GrantsInArrivalOrder()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var waiters = Enumerable.Range(0, 5).Select(i => connector.AcquireAsync(session, i % 2 == 0 ? A : B, CancellationToken.None)).ToList();

        var order = new List<int>();
        held.Release();
        for (var step = 0; step < waiters.Count; step++)
        {
            // Exactly one waiter holds the slot at each step, and it is the oldest one left.
            var granted = Enumerable.Range(0, waiters.Count).Where(i => waiters[i].IsCompleted && !order.Contains(i)).ToList();
            Assert.Single(granted);
            order.Add(granted[0]);
            (await waiters[granted[0]]).Release();
        }

        Assert.Equal([0, 1, 2, 3, 4], order);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_WhileAnEligibleWaiterHoldsTheFreedSlot_DoesNotBarge()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var waiter = connector.AcquireAsync(session, A, CancellationToken.None);

        held.Release();
        var newcomer = connector.AcquireAsync(session, A, CancellationToken.None);

        Assert.True(waiter.IsCompleted, "the slot went to the waiter at the moment it was freed");
        Assert.False(newcomer.IsCompleted, "a new request must not overtake the waiter");
        (await waiter).Release();
        (await newcomer).Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task Release_WaiterBlockedOnlyByItsHostLimit_DoesNotBlockOtherHosts()
    {
        var connector = new Connector("s", limit: 3, limitPerHost: 1, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var a1 = await connector.AcquireAsync(session, A, CancellationToken.None);
        var a2 = connector.AcquireAsync(session, A, CancellationToken.None); // held back by A's per-host limit
        var b1 = connector.AcquireAsync(session, B, CancellationToken.None); // must not queue behind a2

        Assert.False(a2.IsCompleted);
        Assert.True(b1.IsCompletedSuccessfully);
        var stats = connector.Stats;
        Assert.Equal((2, 1), (stats.InUse, stats.Waiting));
        Assert.Contains(stats.Hosts, h => h.Host == "http://a.test:80" && h.InUse == 1 && h.Waiting == 1);

        a1.Release();
        (await a2).Release();
        (await b1).Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task Release_TotalLimitFreed_GoesToOldestWaiterWhoseHostHasRoom()
    {
        var connector = new Connector("s", limit: 2, limitPerHost: 1, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var a1 = await connector.AcquireAsync(session, A, CancellationToken.None);
        var b1 = await connector.AcquireAsync(session, B, CancellationToken.None);
        var a2 = connector.AcquireAsync(session, A, CancellationToken.None); // oldest, but A is at its host limit while a1 runs
        var b2 = connector.AcquireAsync(session, B, CancellationToken.None);

        b1.Release();

        Assert.False(a2.IsCompleted);
        Assert.True(b2.IsCompleted);
        a1.Release();
        Assert.True(a2.IsCompleted);
        (await a2).Release();
        (await b2).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_CancelledWhileQueued_LeavesTheQueueAndConsumesNothing()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var cancelled = connector.AcquireAsync(session, A, cts.Token).AsTask();
        var next = connector.AcquireAsync(session, A, CancellationToken.None);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal((1, 1), (connector.Stats.InUse, connector.Stats.Waiting));
        held.Release();
        Assert.True(next.IsCompleted, "the slot skips the cancelled waiter");
        (await next).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_CancelledAfterBeingGranted_KeepsTheSlotForItsOwnerToRelease()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var waiter = connector.AcquireAsync(session, A, cts.Token);

        held.Release();
        await cts.CancelAsync();

        // Granted before the cancellation: the owner gets the slot and must release it; nothing is lost or doubled.
        var host = await waiter;
        Assert.Equal(1, connector.Stats.InUse);
        host.Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task AcquireAsync_BeyondQueueLimit_FailsAtOnceWithQueueFull()
    {
        var connector = new Connector("bulk", limit: 1, limitPerHost: 0, queueLimit: 2);
        var session = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var w1 = connector.AcquireAsync(session, A, CancellationToken.None);
        var w2 = connector.AcquireAsync(session, B, CancellationToken.None);

        var error = Assert.Throws<QueueFullException>(() => connector.AcquireAsync(session, A, CancellationToken.None));

        Assert.Equal("bulk", error.SessionName);
        Assert.Equal(2, connector.Stats.Waiting);
        held.Release();
        (await w1).Release();
        (await w2).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task SetLimits_Raised_AdmitsWaitersAtOnce_AndLoweredLetsInFlightFinish()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var first = await connector.AcquireAsync(session, A, CancellationToken.None);
        var waiters = Enumerable.Range(0, 3).Select(_ => connector.AcquireAsync(session, A, CancellationToken.None)).ToList();

        connector.Reconfigure(new ConnectorOptions { Limit = 3, LimitPerHost = 0, QueueLimit = 0 });
        Assert.Equal(2, waiters.Count(w => w.IsCompleted));
        Assert.Equal((3, 1), (connector.Stats.InUse, connector.Stats.Waiting));

        connector.Reconfigure(new ConnectorOptions { Limit = 1, LimitPerHost = 0, QueueLimit = 0 });
        first.Release();
        (await waiters[0]).Release();
        Assert.False(waiters[2].IsCompleted, "two in flight with a limit of one: no new admission");
        (await waiters[1]).Release();
        Assert.True(waiters[2].IsCompleted);
        (await waiters[2]).Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task Close_FailsQueuedWaitersNamingTheSession_AndRejectsNewRequests()
    {
        var connector = new Connector("crawler", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("crawler", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        connector.CloseMember(session);

        var error = await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.Contains("crawler", error.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(session, A, CancellationToken.None));
        var idle = connector.WhenIdleAsync();
        Assert.False(idle.IsCompleted);
        held.Release();
        await idle.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Release_ManyConcurrentAcquirersAndCancellations_NeverExceedsLimitOrLosesASlot()
    {
        var connector = new Connector("s", limit: 4, limitPerHost: 2, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var hosts = new[] { A, B, new HostKey("http", "c.test", 80) };
        var inUse = new int[hosts.Length];
        var total = 0;
        var violations = 0;
        var random = new Random(1234);
        var seeds = Enumerable.Range(0, 2000).Select(_ => random.Next()).ToArray();

        async Task WorkAsync(int i)
        {
            var r = new Random(seeds[i]);
            var h = r.Next(hosts.Length);
            using var cts = new CancellationTokenSource();
            var acquire = connector.AcquireAsync(session, hosts[h], cts.Token).AsTask();
            if (r.Next(4) == 0)
            {
                await cts.CancelAsync();
            }

            Connector.SlotLease slot;
            try
            {
                slot = await acquire;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (Interlocked.Increment(ref total) > 4 | Interlocked.Increment(ref inUse[h]) > 2)
            {
                Interlocked.Increment(ref violations);
            }

            await Task.Yield();
            Interlocked.Decrement(ref inUse[h]);
            Interlocked.Decrement(ref total);
            slot.Release();
        }

        await Task.WhenAll(Enumerable.Range(0, seeds.Length).Select(i => Task.Run(() => WorkAsync(i)))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, violations);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_DeadlinePassesWhileQueued_FailsWithItsKindAndLeavesTheQueue()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var timeout = new ClientTimeout { Total = TimeSpan.FromSeconds(30), Connect = TimeSpan.FromSeconds(5) };
        var queued = connector.AcquireAsync(session, A, CancellationToken.None, Deadline.InQueue(timeout, time.GetTimestamp(), time)).AsTask();

        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(queued.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(0.1));

        var error = await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => queued);
        Assert.Equal(TimeoutKind.Connect, error.Kind);
        Assert.Equal((1, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        held.Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task AcquireAsync_GrantedBeforeItsDeadline_KeepsTheSlotWhenTheDeadlinePasses()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var timeout = new ClientTimeout { Total = TimeSpan.FromSeconds(5) };
        var queued = connector.AcquireAsync(session, A, CancellationToken.None, Deadline.InQueue(timeout, time.GetTimestamp(), time));

        held.Release();
        var host = await queued;
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1, connector.Stats.InUse);
        host.Release();
        Assert.Equal(0, connector.Stats.InUse);
    }

    [Fact]
    public async Task AcquireAsync_DeadlinesOfDifferentSpans_ExpireEachAtItsOwnTimeBehindOneQueue()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        Deadline? Within(int seconds) => Deadline.InQueue(new ClientTimeout { Total = TimeSpan.FromSeconds(seconds) }, time.GetTimestamp(), time);

        var long1 = connector.AcquireAsync(session, A, CancellationToken.None, Within(20)).AsTask();
        var short1 = connector.AcquireAsync(session, B, CancellationToken.None, Within(5)).AsTask();
        var none = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        var short2 = connector.AcquireAsync(session, A, CancellationToken.None, Within(5)).AsTask();

        time.Advance(TimeSpan.FromSeconds(4));
        await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => short1);
        Assert.False(short2.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => short2);
        Assert.False(long1.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => long1);

        // The waiter without a deadline is still queued, and the freed slot goes to it.
        Assert.Equal((1, 1), (connector.Stats.InUse, connector.Stats.Waiting));
        held.Release();
        (await none).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task Close_WithQueuedDeadlines_FailsTheWaitersAndStopsTheTimer()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        _ = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None, Deadline.InQueue(new ClientTimeout { Total = TimeSpan.FromSeconds(5) }, time.GetTimestamp(), time)).AsTask();

        connector.CloseMember(session);
        time.Advance(TimeSpan.FromSeconds(10));

        await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.Equal(0, connector.Stats.Waiting);
    }

    [Fact]
    public async Task Stats_OldestWait_IsTheAgeOfTheOldestWaiterAcrossHosts_ZeroOnceTheQueueEmpties()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        Assert.Equal(TimeSpan.Zero, connector.Stats.OldestWait);

        using var cancel = new CancellationTokenSource();
        var first = connector.AcquireAsync(session, B, cancel.Token).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        var second = connector.AcquireAsync(session, A, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(5), connector.Stats.OldestWait);

        // The oldest waiter leaves (cancelled): the next one's age is the oldest wait now.
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal(TimeSpan.FromSeconds(2), connector.Stats.OldestWait);

        held.Release();
        (await second).Release();
        Assert.Equal((0, 0, TimeSpan.Zero), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.OldestWait));
    }
}
