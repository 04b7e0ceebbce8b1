using System.Reflection;
using AsyncHttp.Internal;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// The edges of admission on the connector itself: the sweep of idle hosts, waiting for idle more than once, a token
/// cancelled before the request would queue, and what a closed session or connector answers.
/// </summary>
public sealed class ConnectorQueueTests
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);

    [Fact]
    public async Task AcquireAsync_PastTheSweepThreshold_DropsIdleHostsOnly_AndBusyOnesKeepTheirLimits()
    {
        const int threshold = 1024;
        var connector = new Connector("s", limit: 0, limitPerHost: 1, queueLimit: 0);
        var busy = connector.Join("busy", new SessionCaps(0, 0, 0, 0));
        var crawler = connector.Join("crawler", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(busy, A, CancellationToken.None);
        var queued = connector.AcquireAsync(busy, A, CancellationToken.None);

        // busy's last host is B, idle now; the crawler fills the table with idle hosts up to the threshold.
        (await connector.AcquireAsync(busy, B, CancellationToken.None)).Release();
        for (var i = connector.HostEntries; i < threshold; i++)
        {
            (await connector.AcquireAsync(crawler, Host(i), CancellationToken.None)).Release();
        }

        Assert.Equal(threshold, connector.HostEntries);

        // One more host: every idle one goes, the busy one (a slot in use, a waiter) stays.
        var next = await connector.AcquireAsync(crawler, Host(threshold), CancellationToken.None);

        Assert.Equal(2, connector.HostEntries);
        var a = Assert.Single(connector.Stats.Hosts, h => h.Host == "http://a.test:80");
        Assert.Equal((1, 1), (a.InUse, a.Waiting));
        Assert.False(queued.IsCompleted, "A is still at its per-host limit");
        var crawlerToA = connector.AcquireAsync(crawler, A, CancellationToken.None);
        Assert.False(crawlerToA.IsCompleted, "A is still at its per-host limit");

        // busy's last host was swept: its next request to B counts in a new entry, which the per-host limit sees.
        var b = await connector.AcquireAsync(busy, B, CancellationToken.None);
        Assert.Equal(1, Assert.Single(connector.Stats.Hosts, h => h.Host == "http://b.test:80").InUse);
        var secondB = connector.AcquireAsync(crawler, B, CancellationToken.None);
        Assert.False(secondB.IsCompleted, "B is at its per-host limit");

        b.Release();
        (await secondB).Release();
        next.Release();
        held.Release();
        (await queued).Release();
        (await crawlerToA).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task WhenIdleAsync_AskedTwiceWhileBusy_CompletesBoth_AndANewBusySpellWaitsAgain()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);

        var first = connector.WhenIdleAsync();
        var second = connector.WhenIdleAsync();
        var firstOfSession = connector.WhenIdleAsync(session);
        var secondOfSession = connector.WhenIdleAsync(session);

        Assert.False(first.IsCompleted || second.IsCompleted || firstOfSession.IsCompleted || secondOfSession.IsCompleted);
        held.Release();
        await Task.WhenAll(first, second, firstOfSession, secondOfSession).WaitAsync(TimeSpan.FromSeconds(30));

        held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var again = connector.WhenIdleAsync();
        var againOfSession = connector.WhenIdleAsync(session);
        Assert.False(again.IsCompleted || againOfSession.IsCompleted, "a slot is in use again");
        held.Release();
        await Task.WhenAll(again, againOfSession).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task AcquireAsync_TokenAlreadyCancelledWhenItWouldQueue_IsCancelledWithoutQueueingEvenWhenTheQueueIsFull()
    {
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 1);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var acquire = connector.AcquireAsync(session, B, cancelled.Token);

        Assert.True(acquire.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquire.AsTask());
        Assert.Equal((1, 1), (connector.Stats.InUse, connector.Stats.Waiting));
        held.Release();
        (await queued).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_AfterTheSessionClosed_ThrowsObjectDisposedNamingTheSession()
    {
        var connector = new Connector("shared", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("reports", new SessionCaps(0, 0, 0, 0));
        var other = connector.Join("other", new SessionCaps(0, 0, 0, 0));

        connector.CloseMember(session);

        var error = Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(session, A, CancellationToken.None));
        Assert.Equal(nameof(ClientSession), error.ObjectName);
        Assert.Contains("Session 'reports' is closed.", error.Message, StringComparison.Ordinal);
        (await connector.AcquireAsync(other, A, CancellationToken.None)).Release();
    }

    [Fact]
    public async Task CloseMember_Twice_IsANoOp_AndTheSessionLeavesOnceItsLastSlotIsBack()
    {
        var connector = new Connector("shared", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("reports", new SessionCaps(0, 0, 0, 0));
        var other = connector.Join("other", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(other, A, CancellationToken.None);

        connector.CloseMember(session);
        connector.CloseMember(session);

        Assert.Equal(["reports", "other"], connector.Stats.Sessions.Select(s => s.Session));
        Assert.False(queued.IsCompleted);
        held.Release();
        (await queued).Release();
        Assert.Equal(["other"], connector.Stats.Sessions.Select(s => s.Session));
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task CloseAsync_Twice_ReturnsTheSameClose_AndFailsTheQueueOnce()
    {
        var connector = new Connector("shared", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("reports", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        var first = connector.CloseAsync();
        var second = connector.CloseAsync();

        Assert.Same(first, second);
        await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.False(first.IsCompleted, "the slot in flight is still held");
        held.Release();
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(connector.IsClosed);
    }

    private static HostKey Host(int i) => new("http", $"h{i}.test", 80);

    [Fact]
    public async Task CloseMember_ASessionAloneAtItsPriorityWithShares_LeavesNeitherItsLevelNorItsShares()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var stays = connector.Join("stays", new SessionCaps(0, 0, 0, 0));
        var leaves = connector.Join("leaves", new SessionCaps(0, 0, 0, 5));
        (await connector.AcquireAsync(leaves, A, CancellationToken.None)).Release();
        (await connector.AcquireAsync(leaves, B, CancellationToken.None)).Release();
        (await connector.AcquireAsync(stays, B, CancellationToken.None)).Release();
        Assert.Equal([5, 0], Levels(connector));
        Assert.Equal(3, SharesOf(connector, leaves) + SharesOf(connector, stays));

        connector.CloseMember(leaves);

        // A connector that outlives many sessions (a shared one) keeps nothing of those that left.
        Assert.Equal([0], Levels(connector));
        Assert.Equal((0, 1), (SharesOf(connector, leaves), SharesOf(connector, stays)));
        Assert.Equal("stays", Assert.Single(connector.Stats.Sessions).Session);
    }

    [Fact]
    public void SetCaps_ASessionAloneAtItsPriorityMovesToAnother_ItsOldLevelGoes()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var member = connector.Join("s", new SessionCaps(0, 0, 0, 5));

        connector.SetCaps(member, new SessionCaps(0, 0, 0, 7));

        Assert.Equal([7], Levels(connector));
    }

    /// <summary>The priorities the connector keeps a level for, highest first (its private list: no statistic shows it).</summary>
    private static List<int> Levels(Connector connector)
        => [.. ((List<PriorityLevel>)typeof(Connector).GetField("_levels", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(connector)!).Select(l => l.Priority)];

    /// <summary>The shares of hosts the connector keeps for <paramref name="member"/> (its private table of hosts).</summary>
    private static int SharesOf(Connector connector, ConnectorMember member)
        => ((Dictionary<HostKey, HostState>)typeof(Connector).GetField("_hosts", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(connector)!)
            .Values.Sum(h => h.Shares.Count(share => ReferenceEquals(share.Member, member)));
}
