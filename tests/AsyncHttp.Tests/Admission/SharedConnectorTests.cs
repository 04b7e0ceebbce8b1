using AsyncHttp.Internal;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// The dispatch rules of a connector shared by several sessions, on the connector itself: each session's own caps
/// inside the pool, priorities (a freed slot goes to the oldest eligible waiter of the highest priority that has one),
/// and today's rules within a priority (FIFO, no head-of-line blocking across hosts or sessions, no barging).
/// </summary>
public sealed class SharedConnectorTests
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);

    [Fact]
    public async Task AcquireAsync_TwoSessions_TheConnectorCapsTheSumAndEachSessionItsOwnShare()
    {
        var connector = new Connector("upstream", limit: 8, limitPerHost: 0, queueLimit: 0);
        var a = connector.Join("a", new SessionCaps(5, 0, 0, 0));
        var b = connector.Join("b", new SessionCaps(6, 0, 0, 0));

        var fromA = Enumerable.Range(0, 10).Select(_ => connector.AcquireAsync(a, A, CancellationToken.None)).ToList();
        var fromB = Enumerable.Range(0, 10).Select(_ => connector.AcquireAsync(b, A, CancellationToken.None)).ToList();

        // a takes its own 5; b the 3 the connector has left, not its own 6.
        Assert.Equal(5, fromA.Count(t => t.IsCompleted));
        Assert.Equal(3, fromB.Count(t => t.IsCompleted));
        var stats = connector.Stats;
        Assert.Equal((8, 12), (stats.InUse, stats.Waiting));
        Assert.Equal([("a", 5, 5), ("b", 3, 7)], stats.Sessions.Select(s => (s.Session, s.InUse, s.Waiting)));

        // A slot a gives back goes to a's oldest waiter, the oldest of all, now that a is under its cap again.
        (await fromA[0]).Release();
        Assert.Equal((6, 3), (fromA.Count(t => t.IsCompleted), fromB.Count(t => t.IsCompleted)));
        Assert.Equal((5, 3), (Stats(connector, "a").InUse, Stats(connector, "b").InUse));

        await DrainAsync(connector, [.. fromA.Skip(1), .. fromB]);
    }

    [Fact]
    public async Task Release_HigherPriorityWaiter_TakesTheNextFreedSlotAheadOfOlderLowerWaiters()
    {
        var connector = new Connector("upstream", limit: 2, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(0, 0, 0, 10));
        var held = new[] { await connector.AcquireAsync(bulk, A, CancellationToken.None), await connector.AcquireAsync(bulk, A, CancellationToken.None) };
        var bulkWaiters = Enumerable.Range(0, 50).Select(_ => connector.AcquireAsync(bulk, A, CancellationToken.None)).ToList();

        // Rule (a): each priority request, issued one by one, takes the next freed slot; no bulk waiter goes first.
        for (var i = 0; i < 5; i++)
        {
            var request = connector.AcquireAsync(priority, B, CancellationToken.None);
            Assert.False(request.IsCompleted);
            var granted = bulkWaiters.Count(w => w.IsCompleted);

            held[0].Release();

            Assert.True(request.IsCompleted, $"priority request {i} did not take the freed slot");
            Assert.Equal(granted, bulkWaiters.Count(w => w.IsCompleted));

            // Its slot back, the next goes to the oldest bulk waiter.
            (await request).Release();
            Assert.Equal(granted + 1, bulkWaiters.Count(w => w.IsCompleted));
            held[0] = await bulkWaiters[granted];
        }

        held[1].Release();
        held[0].Release();
        await DrainAsync(connector, bulkWaiters.Skip(5).ToList());
    }

    [Fact]
    public async Task AcquireAsync_LowerSessionsCapLeavesRoom_HigherPriorityWaitsZero()
    {
        // Rule (b): connector 16, bulk's own 12: four slots bulk can never take.
        var time = new FakeTimeProvider();
        var connector = new Connector("upstream", limit: 16, limitPerHost: 0, queueLimit: 0, time);
        var bulk = connector.Join("bulk", new SessionCaps(12, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(0, 0, 0, 10));
        var bulkRequests = Enumerable.Range(0, 512).Select(_ => connector.AcquireAsync(bulk, A, CancellationToken.None)).ToList();
        Assert.Equal((12, 500), (Stats(connector, "bulk").InUse, Stats(connector, "bulk").Waiting));

        var priorityRequests = Enumerable.Range(0, 4).Select(_ => connector.AcquireAsync(priority, A, CancellationToken.None)).ToList();

        Assert.All(priorityRequests, r => Assert.True(r.IsCompletedSuccessfully));
        Assert.Equal((4, 0, TimeSpan.Zero), (Stats(connector, "priority").InUse, Stats(connector, "priority").Waiting, Stats(connector, "priority").OldestWait));

        await DrainAsync(connector, [.. priorityRequests, .. bulkRequests]);
    }

    [Fact]
    public async Task Release_HigherSessionAtItsOwnCap_LowerSessionIsNeverBelowTheRest()
    {
        // Rule (c): priority's own Limit of 2 bounds what it can take from bulk: bulk keeps 8 - 2 while it waits.
        var connector = new Connector("upstream", limit: 8, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(2, 0, 0, 10));
        var requests = new List<ValueTask<Connector.SlotLease>>();
        for (var i = 0; i < 100; i++)
        {
            requests.Add(connector.AcquireAsync(priority, A, CancellationToken.None));
            requests.Add(connector.AcquireAsync(bulk, B, CancellationToken.None));
        }

        var released = new HashSet<int>();
        var random = new Random(17);
        for (var step = 0; step < 150; step++)
        {
            Assert.True(Stats(connector, "bulk").Waiting == 0 || Stats(connector, "bulk").InUse >= 6, $"step {step}: bulk starved to {Stats(connector, "bulk").InUse}");
            Assert.InRange(Stats(connector, "priority").InUse, 0, 2);
            var granted = Enumerable.Range(0, requests.Count).Where(i => requests[i].IsCompleted && !released.Contains(i)).ToList();
            var pick = granted[random.Next(granted.Count)];
            released.Add(pick);
            (await requests[pick]).Release();
        }

        await DrainAsync(connector, requests.Where((_, i) => !released.Contains(i)).ToList());
    }

    [Fact]
    public async Task Release_WaitersOfOnePriority_AreGrantedInArrivalOrderAcrossSessions()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0);
        var a = connector.Join("a", new SessionCaps(0, 0, 0, 5));
        var b = connector.Join("b", new SessionCaps(0, 0, 0, 5));
        var held = await connector.AcquireAsync(a, A, CancellationToken.None);
        var waiters = new[]
        {
            connector.AcquireAsync(b, B, CancellationToken.None),
            connector.AcquireAsync(a, A, CancellationToken.None),
            connector.AcquireAsync(b, A, CancellationToken.None),
            connector.AcquireAsync(a, B, CancellationToken.None),
        };

        var order = new List<int>();
        held.Release();
        for (var step = 0; step < waiters.Length; step++)
        {
            var granted = Enumerable.Range(0, waiters.Length).Where(i => waiters[i].IsCompleted && !order.Contains(i)).ToList();
            Assert.Single(granted);
            order.Add(granted[0]);
            (await waiters[granted[0]]).Release();
        }

        Assert.Equal([0, 1, 2, 3], order);
        AssertIdle(connector);
    }

    [Fact]
    public async Task Release_WaiterHeldBackByItsHostOrItsSession_DoesNotBlockOthersOfItsPriority()
    {
        var connector = new Connector("upstream", limit: 4, limitPerHost: 1, queueLimit: 0);
        var a = connector.Join("a", new SessionCaps(1, 0, 0, 0));
        var b = connector.Join("b", new SessionCaps(0, 0, 0, 0));
        var a1 = await connector.AcquireAsync(a, A, CancellationToken.None);

        var a2 = connector.AcquireAsync(a, B, CancellationToken.None); // held back by a's own Limit of 1
        var b1 = connector.AcquireAsync(b, A, CancellationToken.None); // held back by A's LimitPerHost of 1
        var b2 = connector.AcquireAsync(b, B, CancellationToken.None); // neither: must not queue behind a2 or b1

        Assert.False(a2.IsCompleted);
        Assert.False(b1.IsCompleted);
        Assert.True(b2.IsCompletedSuccessfully);
        (await b2).Release();

        // B's freed slot cannot go to a2 (a is at its cap) nor b1 (A is at its limit): a's release frees both.
        Assert.False(a2.IsCompleted);
        a1.Release();
        Assert.True(a2.IsCompleted && b1.IsCompleted);
        await DrainAsync(connector, [a2, b1]);
    }

    [Fact]
    public async Task AcquireAsync_LowerPriorityNewcomerWhileHigherWaiterIsHeldBack_TakesTheFreeSlot()
    {
        // No barging means no overtaking an eligible waiter; a higher waiter held back by its own cap is not one.
        var connector = new Connector("upstream", limit: 4, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(1, 0, 0, 10));
        var p1 = await connector.AcquireAsync(priority, A, CancellationToken.None);
        var p2 = connector.AcquireAsync(priority, A, CancellationToken.None);

        var newcomer = connector.AcquireAsync(bulk, A, CancellationToken.None);

        Assert.False(p2.IsCompleted);
        Assert.True(newcomer.IsCompletedSuccessfully);
        p1.Release();
        await DrainAsync(connector, [p2, newcomer]);
    }

    [Fact]
    public async Task AcquireAsync_NewcomerWhileAnEligibleWaiterHoldsTheFreedSlot_DoesNotBargeAtAnyPriority()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var priority = connector.Join("priority", new SessionCaps(0, 0, 0, 10));
        var held = await connector.AcquireAsync(bulk, A, CancellationToken.None);
        var waiter = connector.AcquireAsync(priority, A, CancellationToken.None);

        held.Release();
        var newcomer = connector.AcquireAsync(priority, A, CancellationToken.None);

        Assert.True(waiter.IsCompleted);
        Assert.False(newcomer.IsCompleted);
        await DrainAsync(connector, [waiter, newcomer]);
    }

    [Fact]
    public async Task SetCaps_RaisedOrPriorityChanged_AppliesToWaitersAlreadyQueued()
    {
        var connector = new Connector("upstream", limit: 3, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(1, 0, 0, 0));
        var other = connector.Join("other", new SessionCaps(0, 0, 0, 0));
        var first = await connector.AcquireAsync(bulk, A, CancellationToken.None);
        var bulkWaiters = Enumerable.Range(0, 3).Select(_ => connector.AcquireAsync(bulk, A, CancellationToken.None)).ToList();
        var otherHeld = new[] { await connector.AcquireAsync(other, A, CancellationToken.None), await connector.AcquireAsync(other, A, CancellationToken.None) };
        var otherWaiter = connector.AcquireAsync(other, A, CancellationToken.None);

        // bulk's waiters are older, but bulk is at its own cap: a freed slot goes to other's waiter.
        otherHeld[0].Release();
        Assert.True(otherWaiter.IsCompleted);
        Assert.Equal(0, bulkWaiters.Count(w => w.IsCompleted));

        // Raising bulk's cap admits what the connector has room for at once; no room now.
        connector.SetCaps(bulk, new SessionCaps(4, 0, 0, 0));
        Assert.Equal(0, bulkWaiters.Count(w => w.IsCompleted));
        var otherNext = connector.AcquireAsync(other, A, CancellationToken.None);

        // A higher priority for bulk puts its (older anyway) waiters first, ahead of other's newer one.
        connector.SetCaps(bulk, new SessionCaps(4, 0, 0, 7));
        otherHeld[1].Release();
        Assert.Equal(1, bulkWaiters.Count(w => w.IsCompleted));
        Assert.False(otherNext.IsCompleted);
        Assert.Equal(7, Stats(connector, "bulk").Priority);

        first.Release();
        await DrainAsync(connector, [.. bulkWaiters, otherWaiter, otherNext]);
    }

    [Fact]
    public async Task AcquireAsync_BeyondTheSessionsOwnQueueLimitOrTheConnectors_FailsAtOnceNamingWhich()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 3);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 2, 0));
        var priority = connector.Join("priority", new SessionCaps(0, 0, 0, 10));
        var held = await connector.AcquireAsync(bulk, A, CancellationToken.None);
        var waiters = new List<ValueTask<Connector.SlotLease>> { connector.AcquireAsync(bulk, A, CancellationToken.None), connector.AcquireAsync(bulk, A, CancellationToken.None) };

        var own = Assert.Throws<QueueFullException>(() => connector.AcquireAsync(bulk, A, CancellationToken.None));
        Assert.Equal(("bulk", 2), (own.SessionName, own.QueueLimit));

        // bulk's own bound left the connector's queue room for priority.
        waiters.Add(connector.AcquireAsync(priority, A, CancellationToken.None));
        var shared = Assert.Throws<QueueFullException>(() => connector.AcquireAsync(priority, A, CancellationToken.None));
        Assert.Equal(("priority", 3), (shared.SessionName, shared.QueueLimit));
        Assert.Contains("connector 'upstream'", shared.Message, StringComparison.Ordinal);

        held.Release();
        await DrainAsync(connector, waiters);
    }

    [Fact]
    public async Task CloseMember_FailsThatSessionsWaitersOnly_TheOthersKeepTheirPlace()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0);
        var a = connector.Join("a", new SessionCaps(0, 0, 0, 0));
        var b = connector.Join("b", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(a, A, CancellationToken.None);
        var aWaiter = connector.AcquireAsync(a, A, CancellationToken.None).AsTask();
        var bWaiter = connector.AcquireAsync(b, A, CancellationToken.None);

        connector.CloseMember(a);

        var error = await Assert.ThrowsAsync<SessionClosedException>(() => aWaiter);
        Assert.Equal("a", error.SessionName);
        var closed = Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(a, A, CancellationToken.None));
        Assert.Contains("'a'", closed.Message, StringComparison.Ordinal);
        Assert.False(bWaiter.IsCompleted);

        // a's slot in flight still counts until it comes back; then a leaves the connector and b takes the slot.
        Assert.Equal(["a", "b"], connector.Stats.Sessions.Select(s => s.Session));
        held.Release();
        Assert.Equal(["b"], connector.Stats.Sessions.Select(s => s.Session));
        (await bWaiter).Release();
        AssertIdle(connector);
    }

    [Fact]
    public async Task CloseAsync_FailsTheWaitersOfEverySessionNamingTheConnector_AndRejectsNewRequests()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0);
        var a = connector.Join("a", new SessionCaps(0, 0, 0, 0));
        var b = connector.Join("b", new SessionCaps(0, 0, 0, 3));
        var held = await connector.AcquireAsync(a, A, CancellationToken.None);
        var aWaiter = connector.AcquireAsync(a, A, CancellationToken.None).AsTask();
        var bWaiter = connector.AcquireAsync(b, B, CancellationToken.None).AsTask();

        var closing = connector.CloseAsync();

        Assert.Equal("a", (await Assert.ThrowsAsync<SessionClosedException>(() => aWaiter)).SessionName);
        var error = await Assert.ThrowsAsync<SessionClosedException>(() => bWaiter);
        Assert.Equal("b", error.SessionName);
        Assert.Contains("Connector 'upstream'", error.Message, StringComparison.Ordinal);
        var rejected = Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(b, A, CancellationToken.None));
        Assert.Contains("Connector 'upstream' is closed", rejected.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => connector.Join("late", new SessionCaps(0, 0, 0, 0)));

        // The graceful close waits for the slot in flight.
        Assert.False(closing.IsCompleted);
        held.Release();
        await closing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(connector.IsClosed);
        AssertIdle(connector);
    }

    [Fact]
    public async Task Stats_PerSession_OldestWaitIsThatSessionsOwn()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var a = connector.Join("a", new SessionCaps(0, 0, 0, 0));
        var b = connector.Join("b", new SessionCaps(0, 0, 0, 1));
        var held = await connector.AcquireAsync(a, A, CancellationToken.None);
        var aWaiter = connector.AcquireAsync(a, A, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(3));
        var bWaiter = connector.AcquireAsync(b, B, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));

        var stats = connector.Stats;
        Assert.Equal(TimeSpan.FromSeconds(4), stats.OldestWait);
        Assert.Equal("upstream", stats.Name);
        Assert.Equal(TimeSpan.FromSeconds(4), Stats(connector, "a").OldestWait);
        Assert.Equal(TimeSpan.FromSeconds(1), Stats(connector, "b").OldestWait);
        Assert.Equal((1, 2, 1), (Stats(connector, "b").Priority, stats.Sessions.Sum(s => s.Waiting), stats.Hosts.Single(h => h.Host == "http://b.test:80").Waiting));

        held.Release();
        await DrainAsync(connector, [aWaiter, bWaiter]);
    }

    [Fact]
    public async Task Release_ManySessionsAndPrioritiesWithCancellations_NeverExceedsACapOrLosesASlot()
    {
        var connector = new Connector("upstream", limit: 6, limitPerHost: 4, queueLimit: 0);
        var members = new[]
        {
            connector.Join("low", new SessionCaps(0, 0, 0, 0)),
            connector.Join("mid", new SessionCaps(3, 2, 0, 5)),
            connector.Join("high", new SessionCaps(2, 0, 0, 10)),
        };
        var caps = new[] { 6, 3, 2 };
        var hosts = new[] { A, B, new HostKey("http", "c.test", 80) };
        var inUse = new int[members.Length];
        var perHost = new int[hosts.Length];
        var total = 0;
        var violations = 0;
        var seeds = new Random(4321);
        var plan = Enumerable.Range(0, 2000).Select(_ => seeds.Next()).ToArray();

        async Task WorkAsync(int i)
        {
            var r = new Random(plan[i]);
            var (m, h) = (r.Next(members.Length), r.Next(hosts.Length));
            using var cts = new CancellationTokenSource();
            var acquire = connector.AcquireAsync(members[m], hosts[h], cts.Token).AsTask();
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

            if (Interlocked.Increment(ref total) > 6 | Interlocked.Increment(ref inUse[m]) > caps[m] | Interlocked.Increment(ref perHost[h]) > 4)
            {
                Interlocked.Increment(ref violations);
            }

            await Task.Yield();
            Interlocked.Decrement(ref perHost[h]);
            Interlocked.Decrement(ref inUse[m]);
            Interlocked.Decrement(ref total);
            slot.Release();
        }

        await Task.WhenAll(Enumerable.Range(0, plan.Length).Select(i => Task.Run(() => WorkAsync(i)))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, violations);
        AssertIdle(connector);
        Assert.All(connector.Stats.Sessions, s => Assert.Equal((0, 0), (s.InUse, s.Waiting)));
    }

    private static SessionStats Stats(Connector connector, string session) => connector.Stats.Sessions.Single(s => s.Session == session);

    private static void AssertIdle(Connector connector) => Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));

    /// <summary>Releases every lease as it is granted, oldest request first, until none is left; then the connector is idle.</summary>
    private static async Task DrainAsync(Connector connector, IReadOnlyList<ValueTask<Connector.SlotLease>> requests)
    {
        var tasks = requests.Select(r => r.AsTask()).ToList();
        while (tasks.Count > 0)
        {
            var done = await Task.WhenAny(tasks).WaitAsync(TimeSpan.FromSeconds(30));
            tasks.Remove(done);
            (await done).Release();
        }

        AssertIdle(connector);
    }
}
