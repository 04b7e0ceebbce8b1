using System.Threading.RateLimiting;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// A session's caps and its place on the connector, tried where they could slip: a raised priority for waiters newer
/// than another session's, a session's own per-host limit, a raised cap that needs a limiter's permit, a close that
/// drops waiters holding permits, the per-session gauges' hosts, and what an owned connector's full queue says.
/// </summary>
public sealed class ConnectorCapsTests
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);
    private static readonly HostKey C = new("http", "c.test", 80);

    [Fact]
    public async Task SetCaps_PriorityRaisedForNewerWaiters_PutsThemAheadOfOlderOnes()
    {
        var connector = new Connector("upstream", limit: 1, limitPerHost: 0, queueLimit: 0);
        var bulk = connector.Join("bulk", new SessionCaps(0, 0, 0, 0));
        var urgent = connector.Join("urgent", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(bulk, A, CancellationToken.None);
        var older = connector.AcquireAsync(bulk, A, CancellationToken.None);
        var newer = connector.AcquireAsync(urgent, B, CancellationToken.None);

        connector.SetCaps(urgent, new SessionCaps(0, 0, 0, 5));
        held.Release();

        Assert.True(newer.IsCompleted, "the raised priority's waiter takes the freed slot");
        Assert.False(older.IsCompleted);
        Assert.Equal([("bulk", 0), ("urgent", 5)], connector.Stats.Sessions.Select(s => (s.Session, s.Priority)));
        (await newer).Release();
        (await older).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task SetCaps_RaisedCapOfAWaiterThatNeedsAPermit_AdmitsItBeforeReturning()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 5, QueueLimit = 1 });
        var connector = new Connector("upstream", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(1, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var waiting = connector.AcquireAsync(session, A, CancellationToken.None);
        Assert.Equal((1, 0), (connector.Stats.Waiting, connector.Stats.WaitingForPermit));

        connector.SetCaps(session, new SessionCaps(2, 0, 0, 0));

        // The limiter has a permit at hand: asked at once, it grants it, and the waiter is admitted.
        Assert.True(waiting.IsCompletedSuccessfully);
        (await waiting).Release();
        held.Release();
        Assert.Equal(5, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task AcquireAsync_SessionsOwnLimitPerHost_HoldsTheSecondRequestToAHostOnly()
    {
        var connector = new Connector("upstream", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 1, 0, 0));
        var first = await connector.AcquireAsync(session, A, CancellationToken.None);

        var second = connector.AcquireAsync(session, A, CancellationToken.None);
        var other = connector.AcquireAsync(session, B, CancellationToken.None);
        var third = connector.AcquireAsync(session, A, CancellationToken.None);

        Assert.False(second.IsCompleted);
        Assert.True(other.IsCompletedSuccessfully);
        Assert.False(third.IsCompleted, "back from another host, the session's share of A is the same one");
        first.Release();
        (await second).Release();
        (await third).Release();
        (await other).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task HostsOf_ListsTheHostsWhereTheSessionHoldsOrWaits_NotOnesItLeft()
    {
        var connector = new Connector("upstream", limit: 0, limitPerHost: 1, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var other = connector.Join("other", new SessionCaps(0, 0, 0, 0));
        (await connector.AcquireAsync(session, C, CancellationToken.None)).Release();
        var atA = await connector.AcquireAsync(session, A, CancellationToken.None);
        var atB = await connector.AcquireAsync(other, B, CancellationToken.None);
        var waitingB = connector.AcquireAsync(session, B, CancellationToken.None);

        Assert.Equal([(A, 1, 0), (B, 0, 1)], connector.HostsOf(session).OrderBy(h => h.Key.Host));

        atB.Release();
        (await waitingB).Release();
        atA.Release();
        Assert.Empty(connector.HostsOf(session));
    }

    [Fact]
    public async Task WhenIdleAsync_OfASessionHoldingNothing_CompletesAtOnce()
    {
        var connector = new Connector("upstream", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var other = connector.Join("other", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(other, A, CancellationToken.None);

        Assert.True(connector.WhenIdleAsync(session).IsCompletedSuccessfully);
        Assert.False(connector.WhenIdleAsync(other).IsCompleted);
        held.Release();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Close_AWaiterHoldingOnePermitOfTwo_FailsIt_AndThePermitGoesBack(bool wholeConnector)
    {
        using var free = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        using var exhausted = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("shared", limit: 10, limitPerHost: 0, queueLimit: 0);
        var owner = connector.Join("owner", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(exhausted)]);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(free), AdmissionLimiter.Create(exhausted)]);
        var held = await connector.AcquireAsync(owner, A, CancellationToken.None);
        var waiting = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        Assert.Equal(0, free.GetStatistics()!.CurrentAvailablePermits);

        if (wholeConnector)
        {
            _ = connector.CloseAsync();
        }
        else
        {
            connector.CloseMember(session);
        }

        await Assert.ThrowsAsync<SessionClosedException>(() => waiting.WaitAsync(TestServer.Patience));
        Assert.Equal(1, free.GetStatistics()!.CurrentAvailablePermits);
        held.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_DeadlinePassesInTheQueue_SaysWhichTimeoutExpiredWhileItWaited()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, A, CancellationToken.None);
        var deadline = Deadline.InQueue(new ClientTimeout { Total = null, Connect = TimeSpan.FromSeconds(2) }, time.GetTimestamp(), time);
        var queued = connector.AcquireAsync(session, A, CancellationToken.None, deadline).AsTask();

        time.Advance(TimeSpan.FromSeconds(2));

        var error = await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => queued.WaitAsync(TestServer.Patience));
        Assert.Equal("The Connect timeout expired while the request waited for a connection slot.", error.Message);
        held.Release();
    }

    [Fact]
    public async Task AcquireAsync_QueueOfAConnectorASessionOwnsIsFull_SaysTheSessionsQueueIsFull()
    {
        await using var session = new ClientSession("own", new ClientSessionOptions { Limit = 1, QueueLimit = 1 });
        var connector = session.Connector;
        var held = await connector.AcquireAsync(session.Member, A, CancellationToken.None);
        var queued = connector.AcquireAsync(session.Member, A, CancellationToken.None);

        var error = Assert.Throws<QueueFullException>(() => connector.AcquireAsync(session.Member, B, CancellationToken.None));

        Assert.Equal("The wait queue of session 'own' is full (1 waiting); the request was rejected without waiting.", error.Message);
        held.Release();
        (await queued).Release();
    }
}
