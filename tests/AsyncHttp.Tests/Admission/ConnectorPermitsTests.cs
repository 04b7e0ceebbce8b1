using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// What a limiter in admission can do wrong, on the connector itself: refuse with a reason, throw, fail to give a permit
/// back, be left waiting when the connector closes; and the limiter's own lifetime (attached, detached, disposed).
/// Host pauses from <see cref="Connector.PauseHost"/>: bad arguments, several hosts paused for different times.
/// </summary>
public sealed class ConnectorPermitsTests
{
    private static readonly HostKey A = new("http", "a.test", 80);
    private static readonly HostKey B = new("http", "b.test", 80);
    private static readonly HostKey C = new("http", "c.test", 80);

    [Fact]
    public async Task AcquireAsync_LimiterRefusesWithAReasonAndARetryAfter_FailsWithBoth_AndTheNextWaiterIsAskedFor()
    {
        var refusal = Lease.Refused("quota spent", TimeSpan.FromSeconds(7));
        var answers = new Queue<RateLimitLease>([refusal, Lease.Granted()]);
        var noPermitAtHand = Lease.Refused();
        using var limiter = new ScriptedLimiter(attempt: () => noPermitAtHand, acquire: _ => new ValueTask<RateLimitLease>(answers.Dequeue()));
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("reports", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);

        var refused = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        var next = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();

        var error = await Assert.ThrowsAsync<RateLimitRejectedException>(() => refused.WaitAsync(TestServer.Patience));
        Assert.Equal(("reports", "quota spent", TimeSpan.FromSeconds(7)), (error.SessionName, error.Reason, error.RetryAfter));
        Assert.Null(error.InnerException);
        Assert.Equal(1, refusal.Disposals);
        Assert.True(noPermitAtHand.Disposals > 0, "a lease without a permit goes back to its limiter too");
        (await next.WaitAsync(TestServer.Patience)).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_AWaiterLeavesWithAPermit_TheWaiterItCompletesIsAdmittedAtOnce()
    {
        // first: needs both limiters, gets "shared" at once and waits for "other", which an admitted request holds.
        // second: needs "shared" only, and waits for first's. When first leaves (cancelled), its permit goes to second,
        // which then has all it needs and a free slot: it must be admitted then, not at some later release.
        using var shared = new ConcurrencyLimiter(new() { PermitLimit = 1, QueueLimit = 10 });
        using var other = new ConcurrencyLimiter(new() { PermitLimit = 1, QueueLimit = 10 });
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var holder = connector.Join("holder", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(other)]);
        var both = connector.Join("both", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(shared), AdmissionLimiter.Create(other)]);
        var one = connector.Join("one", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(shared)]);
        var held = await connector.AcquireAsync(holder, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);

        using var leave = new CancellationTokenSource();
        var first = connector.AcquireAsync(both, A, leave.Token).AsTask();
        var second = connector.AcquireAsync(one, B, CancellationToken.None).AsTask();
        Assert.Equal((1, 2), (connector.Stats.InUse, connector.Stats.Waiting));

        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.WaitAsync(TestServer.Patience));

        // Nothing is released meanwhile: only the departure can admit second.
        var admitted = await second.WaitAsync(TestServer.Patience);
        Assert.Equal((2, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        admitted.Release();
        held.Release();
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));

        // Both limiters have their permit back (the acquisition second no longer needed is given back when it comes).
        using var sharedBack = await shared.AcquireAsync().AsTask().WaitAsync(TestServer.Patience);
        using var otherBack = await other.AcquireAsync().AsTask().WaitAsync(TestServer.Patience);
        Assert.True(sharedBack.IsAcquired && otherBack.IsAcquired);
    }

    [Theory]
    [InlineData("cancelled")]
    [InlineData("its queue deadline passed")]
    [InlineData("its session closed")]
    public async Task AcquireAsync_AWaiterLeavesWithAPermit_WhileItsOtherAcquisitionGoesOnForAnother_TheWaiterItCompletesIsAdmittedAtOnce(string how)
    {
        // As above, but a third waiter needs "other" too: first's pending acquisition of "other" is not cancelled when
        // first leaves (it goes to third), so no cancellation dispatches. The departure itself must admit second, however
        // first leaves.
        var time = new FakeTimeProvider();
        using var shared = new ConcurrencyLimiter(new() { PermitLimit = 1, QueueLimit = 10 });
        using var other = new ConcurrencyLimiter(new() { PermitLimit = 1, QueueLimit = 10 });
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0, time);
        var holder = connector.Join("holder", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(other)]);
        var both = connector.Join("both", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(shared), AdmissionLimiter.Create(other)]);
        var one = connector.Join("one", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(shared)]);
        var needsOther = connector.Join("other", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(other)]);
        var held = await connector.AcquireAsync(holder, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);

        using var leave = new CancellationTokenSource();
        var deadline = Deadline.InQueue(new ClientTimeout { Connect = TimeSpan.FromSeconds(1) }, time.GetTimestamp(), time);
        var first = connector.AcquireAsync(both, A, leave.Token, how == "its queue deadline passed" ? deadline : null).AsTask();
        var second = connector.AcquireAsync(one, B, CancellationToken.None).AsTask();
        var third = connector.AcquireAsync(needsOther, C, CancellationToken.None).AsTask();
        Assert.Equal((1, 3), (connector.Stats.InUse, connector.Stats.Waiting));

        switch (how)
        {
            case "cancelled":
                await leave.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.WaitAsync(TestServer.Patience));
                break;
            case "its queue deadline passed":
                time.Advance(TimeSpan.FromSeconds(2));
                await Assert.ThrowsAsync<QueueDeadlineExceededException>(() => first.WaitAsync(TestServer.Patience));
                break;
            default:
                connector.CloseMember(both);
                await Assert.ThrowsAsync<SessionClosedException>(() => first.WaitAsync(TestServer.Patience));
                break;
        }

        // Nothing is released meanwhile: only the departure can admit second.
        var admitted = await second.WaitAsync(TestServer.Patience);
        Assert.Equal((2, 1), (connector.Stats.InUse, connector.Stats.Waiting));
        Assert.False(third.IsCompleted, "third waits for the permit of other that holder has");
        held.Release();
        (await third.WaitAsync(TestServer.Patience)).Release();
        admitted.Release();
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AcquireAsync_LimiterThrows_FailsAsRefusedWithTheLimitersError_AndKeepsNothing(bool whileWaiting)
    {
        var failure = new InvalidOperationException("store unreachable");
        using var limiter = whileWaiting
            ? new ScriptedLimiter(acquire: _ => throw failure)
            : new ScriptedLimiter(attempt: () => throw failure);
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("reports", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);

        var error = await Assert.ThrowsAsync<RateLimitRejectedException>(() => connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience));

        Assert.Same(failure, error.InnerException);
        Assert.Equal("store unreachable", error.Reason);
        Assert.Null(error.RetryAfter);
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
    }

    [Fact]
    public async Task AcquireAsync_CancelledHoldingAPermitWhoseDisposeThrows_LeavesQuietly_AndTheOtherAcquisitionIsCancelled()
    {
        var given = Lease.Granted(onDispose: () => throw new InvalidOperationException("the store is gone"));
        using var first = new ScriptedLimiter(attempt: () => given);
        var pending = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var second = new ScriptedLimiter(acquire: async token =>
        {
            pending.TrySetResult(token);
            await Task.Delay(Timeout.Infinite, token);
            return Lease.Granted();
        });
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(first), AdmissionLimiter.Create(second)]);
        using var cancel = new CancellationTokenSource();

        var waiting = connector.AcquireAsync(session, A, cancel.Token).AsTask();
        var acquisition = await pending.Task.WaitAsync(TestServer.Patience);
        Assert.Equal(1, connector.Stats.WaitingForPermit);

        // The permit it holds goes back to its limiter, which throws: that must not fail the cancellation.
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TestServer.Patience));
        Assert.Equal(1, given.Disposals);
        Assert.True(acquisition.IsCancellationRequested, "no waiter needs the other limiter's permit any more");
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
    }

    [Fact]
    public async Task CloseAsync_WhileALimiterIsAskedForAPermit_CancelsTheAcquisition_AndAPermitThatStillComesGoesBack()
    {
        var pending = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var answer = new TaskCompletionSource<RateLimitLease>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var limiter = new ScriptedLimiter(acquire: token =>
        {
            pending.TrySetResult(token);
            return new ValueTask<RateLimitLease>(answer.Task);
        });
        var connector = new Connector("shared", new ConnectorOptions { Limit = 10, Limiters = { AdmissionLimiter.Create(limiter) } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var waiting = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        var acquisition = await pending.Task.WaitAsync(TestServer.Patience);

        await connector.CloseAsync().WaitAsync(TestServer.Patience);

        await Assert.ThrowsAsync<SessionClosedException>(() => waiting.WaitAsync(TestServer.Patience));
        Assert.True(acquisition.IsCancellationRequested, "the connector closed: no one will take the permit");

        // A limiter that grants all the same: the permit goes back, to no one.
        var late = Lease.Granted();
        answer.SetResult(late);
        await late.Disposed.WaitAsync(TestServer.Patience);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task CloseAsync_AnAcquisitionNoWaiterNeedsAnyMore_IsCancelled()
    {
        using var first = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        using var second = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("shared", limit: 10, limitPerHost: 0, queueLimit: 0);
        var owner = connector.Join("owner", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(second)]);
        var both = connector.Join("both", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(first), AdmissionLimiter.Create(second)]);
        var one = connector.Join("one", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(first)]);
        var held = await connector.AcquireAsync(owner, A, CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        // "both" takes the first limiter's permit and waits for the second's; "one" then asks the first limiter, and waits.
        var leaving = connector.AcquireAsync(both, A, cancel.Token).AsTask();
        var waiting = connector.AcquireAsync(one, B, CancellationToken.None);
        Assert.Equal(1, first.GetStatistics()!.CurrentQueuedCount);

        // "both" leaves: its permit goes to "one", admitted; the first limiter's acquisition is no one's now.
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving.WaitAsync(TestServer.Patience));
        var admitted = await waiting.AsTask().WaitAsync(TestServer.Patience);
        Assert.Equal(1, first.GetStatistics()!.CurrentQueuedCount);

        var closing = connector.CloseAsync();

        Assert.Equal(0, first.GetStatistics()!.CurrentQueuedCount);
        admitted.Release();
        held.Release();
        await closing.WaitAsync(TestServer.Patience);
        Assert.Equal((1, 1), (first.GetStatistics()!.CurrentAvailablePermits, second.GetStatistics()!.CurrentAvailablePermits));
    }

    [Fact]
    public async Task JoinAndClose_LimitersOfTheConnectorAndOfASession_AreAttachedAndDetachedOnceEach()
    {
        using var connectors = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 5, QueueLimit = 1 });
        using var sessions = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 5, QueueLimit = 1 });
        var ofConnector = new RecordingAdmissionLimiter(connectors);
        var ofSession = new RecordingAdmissionLimiter(sessions);

        var connector = new Connector("shared", new ConnectorOptions { Limiters = { ofConnector } });
        Assert.Equal(["attached shared"], ofConnector.Events);

        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [ofSession]);
        Assert.Equal(["attached shared"], ofSession.Events);
        (await connector.AcquireAsync(session, A, CancellationToken.None)).Release();

        connector.CloseMember(session);
        connector.CloseMember(session);
        Assert.Equal(["attached shared", "detached shared"], ofSession.Events);
        Assert.Equal(["attached shared"], ofConnector.Events);

        await connector.CloseAsync().WaitAsync(TestServer.Patience);
        Assert.Equal(["attached shared", "detached shared"], ofConnector.Events);
        Assert.Equal(["attached shared", "detached shared"], ofSession.Events);
    }

    [Fact]
    public async Task AcquireAsync_OneLimiterGivenToTheConnectorAndToTheSession_TakesOnePermitOfIt()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 1 });
        var connector = new Connector("shared", new ConnectorOptions { Limiters = { AdmissionLimiter.Create(limiter) } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter), AdmissionLimiter.Create(limiter)]);

        // Each gate once: asked for a second permit, a gate listed twice would hand the first to the first entry again.
        var first = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        Assert.Equal((1, 1), (first.Permits, (int)limiter.GetStatistics()!.CurrentAvailablePermits));
        var second = await connector.AcquireAsync(session, B, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var third = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        Assert.Equal((2, 1, 1), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));

        first.Release();
        (await third.WaitAsync(TestServer.Patience)).Release();
        second.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
        await connector.DisposeAsync();
    }

    [Fact]
    public async Task Dispose_PerHostLimiters_AreDisposedWithIt_ACallersLimiterIsNot_AndADisposedOneRefusesToAdmit()
    {
        var made = new List<(string Host, ConcurrencyLimiter Limiter)>();
        var perHost = AdmissionLimiter.PerHost(host =>
        {
            var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
            made.Add((host, limiter));
            return limiter;
        });
        using var callers = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var shared = AdmissionLimiter.Create(callers);
        Assert.Equal((true, false), (perHost.IsPerHost, shared.IsPerHost));
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [perHost, shared]);
        (await connector.AcquireAsync(session, A, CancellationToken.None)).Release();
        (await connector.AcquireAsync(session, new HostKey("http", "::1", 8080), CancellationToken.None)).Release();
        Assert.Equal(["http://a.test:80", "http://[::1]:8080"], made.Select(m => m.Host));

        perHost.Dispose();
        await shared.DisposeAsync();

        Assert.All(made, m => Assert.Throws<ObjectDisposedException>(() => m.Limiter.AttemptAcquire(1)));
        using (var permit = callers.AttemptAcquire(1))
        {
            Assert.True(permit.IsAcquired, "the caller owns its limiter: disposing the admission limiter leaves it alone");
        }

        Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(session, B, CancellationToken.None));
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task DisposeAsync_PerHostLimiters_AreDisposedOnce_EvenWhenDisposedAgain()
    {
        var made = new List<ScriptedLimiter>();
        var perHost = AdmissionLimiter.PerHost(_ =>
        {
            var limiter = new ScriptedLimiter(attempt: () => Lease.Granted());
            made.Add(limiter);
            return limiter;
        });
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [perHost]);
        (await connector.AcquireAsync(session, A, CancellationToken.None)).Release();
        (await connector.AcquireAsync(session, B, CancellationToken.None)).Release();

        await perHost.DisposeAsync();
        Assert.Equal([1, 1], made.Select(m => m.Disposals));
        perHost.Dispose();
        await perHost.DisposeAsync();

        Assert.Equal([1, 1], made.Select(m => m.Disposals));
        Assert.Throws<ObjectDisposedException>(() => connector.AcquireAsync(session, A, CancellationToken.None));
    }

    [Fact]
    public void CreateAndPerHost_Null_ThrowArgumentNull()
    {
        Assert.Throws<ArgumentNullException>("limiter", () => AdmissionLimiter.Create(null!));
        Assert.Throws<ArgumentNullException>("create", () => AdmissionLimiter.PerHost(null!));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_ASubclassThatOwnsItsLimiter_DisposesItOnce(bool async)
    {
        var limiter = new ScriptedLimiter();
        var owning = new OwningAdmissionLimiter(limiter);

        if (async)
        {
            await owning.DisposeAsync();
        }
        else
        {
            owning.Dispose();
        }

        owning.Dispose();
        await owning.DisposeAsync();
        Assert.Equal(1, limiter.Disposals);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_ASubclassWithAFinalizer_SuppressesIt(bool async)
    {
        var finalized = new StrongBox<int>();
        await DisposeOneAsync(finalized, async);

        GC.Collect();
        GC.WaitForPendingFinalizers();

        Assert.Equal(0, finalized.Value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DisposeOneAsync(StrongBox<int> finalized, bool async)
    {
        var limiter = new FinalizingAdmissionLimiter(new ScriptedLimiter(), finalized);
        if (async)
        {
            await limiter.DisposeAsync();
        }
        else
        {
            limiter.Dispose();
        }
    }

    [Fact]
    public async Task PauseHost_RelativeUrlZeroDurationOrClosedConnector_PausesNothingAndRaisesNothing()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var raised = 0;
        connector.HostPaused += (_, _) => raised++;

        var error = Assert.Throws<ArgumentException>(() => connector.PauseHost(new Uri("/relative", UriKind.Relative), TimeSpan.FromSeconds(5)));
        Assert.Equal("host", error.ParamName);
        Assert.StartsWith("The host must be an absolute URL; it is '/relative'.", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => connector.PauseHost(null!, TimeSpan.FromSeconds(5)));
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.Zero);
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(-1));

        var admitted = connector.AcquireAsync(session, A, CancellationToken.None);
        Assert.True(admitted.IsCompletedSuccessfully, "a.test is not paused");
        (await admitted).Release();
        Assert.Equal(0, raised);

        await connector.CloseAsync().WaitAsync(TestServer.Patience);
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(5));
        Assert.Equal(0, raised);
    }

    [Fact]
    public async Task PauseHost_TwoHostsForDifferentTimes_EachAdmitsAgainWhenItsOwnPauseEnds()
    {
        var time = new FakeTimeProvider();
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var events = new List<HostPausedEventArgs>();
        connector.HostPaused += (_, e) => events.Add(e);

        connector.PauseHost(new Uri("http://b.test/any/path?q=1"), TimeSpan.FromSeconds(10));
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(4));
        var toA = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();
        var toB = connector.AcquireAsync(session, B, CancellationToken.None).AsTask();
        Assert.Equal(2, connector.Stats.Waiting);
        Assert.Equal([(new Uri("http://b.test:80/"), TimeSpan.FromSeconds(10), false), (new Uri("http://a.test:80/"), TimeSpan.FromSeconds(4), false)], events.Select(e => (e.Host, e.Duration, e.FromResponse)));
        Assert.All(events, e => Assert.Null(e.SessionName));

        // A pause only ever lengthens: one as long, or shorter, changes nothing and raises nothing.
        connector.PauseHost(new Uri("http://b.test/"), TimeSpan.FromSeconds(10));
        connector.PauseHost(new Uri("http://b.test/"), TimeSpan.FromSeconds(3));
        Assert.Equal(2, events.Count);

        time.Advance(TimeSpan.FromSeconds(4));
        (await toA.WaitAsync(TestServer.Patience)).Release();
        Assert.False(toB.IsCompleted, "b.test is paused for 6 seconds more");
        Assert.Equal(TimeSpan.FromSeconds(6), Assert.Single(connector.Stats.Hosts).PausedFor);

        time.Advance(TimeSpan.FromSeconds(6));
        (await toB.WaitAsync(TestServer.Patience)).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        Assert.Empty(connector.Stats.Hosts);
    }

    [Fact]
    public async Task AcquireAsync_OneLimiterGrantsAndTheOtherRefuses_FailsAndGivesTheGrantedPermitBack()
    {
        using var granting = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        using var refusing = new ScriptedLimiter();
        var connector = new Connector("s", limit: 10, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(granting), AdmissionLimiter.Create(refusing)]);

        await Assert.ThrowsAsync<RateLimitRejectedException>(() => connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience));

        Assert.Equal(1, granting.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
    }

    [Fact]
    public async Task AcquireAsync_TwoLimitersWithPermits_TakesOneOfEach_AndGivesBothBack()
    {
        using var first = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 1 });
        using var second = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 1 });
        var connector = new Connector("shared", new ConnectorOptions { Limiters = { AdmissionLimiter.Create(first) } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(second)]);

        var lease = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);

        Assert.Equal(2, lease.Permits);
        Assert.Equal((1, 1), (first.GetStatistics()!.CurrentAvailablePermits, second.GetStatistics()!.CurrentAvailablePermits));
        lease.Release();
        Assert.Equal((2, 2), (first.GetStatistics()!.CurrentAvailablePermits, second.GetStatistics()!.CurrentAvailablePermits));
        await connector.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Release_APermitComesBackWhileOneWaiterCanUseItAndAnotherIsPaused_ItGoesToTheOneThatCan(bool pausedIsOlder)
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("shared", new ConnectorOptions { Limiters = { AdmissionLimiter.Create(limiter) } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        var held = await connector.AcquireAsync(session, new HostKey("http", "c.test", 80), CancellationToken.None);
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromHours(1));
        var first = connector.AcquireAsync(session, pausedIsOlder ? A : B, CancellationToken.None).AsTask();
        var second = connector.AcquireAsync(session, pausedIsOlder ? B : A, CancellationToken.None).AsTask();
        var (paused, eligible) = pausedIsOlder ? (first, second) : (second, first);

        held.Release();

        // The permit goes to a waiter that can take a slot now, older or newer, not to one its host's pause holds back.
        (await eligible.WaitAsync(TestServer.Patience)).Release();
        Assert.False(paused.IsCompleted);
        Assert.Equal((0, 1), (connector.Stats.InUse, connector.Stats.Waiting));
        await connector.DisposeAsync();
        await Assert.ThrowsAsync<SessionClosedException>(() => paused.WaitAsync(TestServer.Patience));
    }

    [Fact]
    public async Task OnPermit_NoWaiterCanUseThePermitNow_ItGoesToTheOldestOfTheHighestPriority_WhoTakesTheSlotFirst()
    {
        var time = new FakeTimeProvider();
        Connector connector = null!;
        ConnectorMember high = null!;
        ValueTask<Connector.SlotLease> older = default, newer = default;
        var permit = Lease.Granted();
        var attempts = 0;
        using var limiter = new ScriptedLimiter(
            attempt: () =>
            {
                switch (++attempts)
                {
                    case 1:
                        return Lease.Granted();
                    case 2:
                        // While the limiter grants the low waiter's permit, its host pauses and two requests of a higher
                        // priority queue for hosts that are paused: when the permit comes, no waiter can take a slot.
                        connector.PauseHost(new Uri("http://b.test/"), TimeSpan.FromSeconds(10));
                        older = connector.AcquireAsync(high, A, CancellationToken.None);
                        newer = connector.AcquireAsync(high, new HostKey("http", "a2.test", 80), CancellationToken.None);
                        return permit;
                    default:
                        return Lease.Refused();
                }
            },
            acquire: _ => new ValueTask<RateLimitLease>(new TaskCompletionSource<RateLimitLease>().Task));
        connector = new Connector("shared", new ConnectorOptions { Limiters = { AdmissionLimiter.Create(limiter) } }, time);
        var low = connector.Join("low", new SessionCaps(0, 0, 0, 0));
        high = connector.Join("high", new SessionCaps(0, 0, 0, 10));
        var held = await connector.AcquireAsync(low, new HostKey("http", "c.test", 80), CancellationToken.None);
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(5));
        connector.PauseHost(new Uri("http://a2.test/"), TimeSpan.FromSeconds(5));

        var lowWaiter = connector.AcquireAsync(low, B, CancellationToken.None);

        // Kept for the oldest waiter of the highest priority, not given back, not to the older waiter of a lower one.
        Assert.Equal(0, permit.Disposals);
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(older.IsCompleted, "the waiter that holds the permit takes the first slot");
        Assert.False(newer.IsCompleted);
        Assert.False(lowWaiter.IsCompleted);
        (await older).Release();
        held.Release();
        await connector.DisposeAsync();
        await Assert.ThrowsAsync<SessionClosedException>(() => newer.AsTask().WaitAsync(TestServer.Patience));
        await Assert.ThrowsAsync<SessionClosedException>(() => lowWaiter.AsTask().WaitAsync(TestServer.Patience));
    }

    [Fact]
    public async Task Stats_WaitingForPermit_CountsOnlyWaitersALimiterHoldsBack_OfTheSessionAsked()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("s", limit: 2, limitPerHost: 0, queueLimit: 0);
        var plain = connector.Join("plain", new SessionCaps(0, 0, 0, 0));
        var limited = connector.Join("limited", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var held = await connector.AcquireAsync(limited, A, CancellationToken.None);
        var forPermit = connector.AcquireAsync(limited, A, CancellationToken.None);
        Assert.Equal((1, 1), (connector.Stats.WaitingForPermit, connector.StatsOf(limited).WaitingForPermit));

        // The Limit is full now: a waiter of the session without limiters waits for a slot, not for a permit.
        var other = await connector.AcquireAsync(plain, B, CancellationToken.None);
        var forSlot = connector.AcquireAsync(plain, B, CancellationToken.None);

        Assert.Equal((2, 1), (connector.Stats.Waiting, connector.Stats.WaitingForPermit));
        Assert.Equal((0, 1), (connector.StatsOf(plain).WaitingForPermit, connector.StatsOf(limited).WaitingForPermit));
        held.Release();
        other.Release();
        (await forPermit.AsTask().WaitAsync(TestServer.Patience)).Release();
        (await forSlot.AsTask().WaitAsync(TestServer.Patience)).Release();
        Assert.Equal((0, 0, 0), (connector.Stats.InUse, connector.Stats.Waiting, connector.Stats.WaitingForPermit));
    }

    [Fact]
    public async Task Stats_OldestWait_CountsAWaitForAPermitFromItsStart()
    {
        var time = new FakeTimeProvider();
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var held = connector.AcquireAsync(session, A, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));

        var waiting = connector.AcquireAsync(session, A, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal((1, TimeSpan.FromSeconds(3)), (connector.Stats.WaitingForPermit, connector.Stats.OldestWait));
        Assert.False(waiting.IsCompleted);
        (await held).Release();
    }

    [Fact]
    public async Task AcquireAsync_ConnectorClosedWhileItsLimiterIsAsked_StartsNoAcquisition()
    {
        Connector connector = null!;
        var waited = 0;
        using var limiter = new ScriptedLimiter(
            attempt: () =>
            {
                _ = connector.CloseAsync();
                return Lease.Refused();
            },
            acquire: _ =>
            {
                Interlocked.Increment(ref waited);
                return new ValueTask<RateLimitLease>(Lease.Granted());
            });
        connector = new Connector("shared", new ConnectorOptions { Limiters = { AdmissionLimiter.Create(limiter) } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));

        var waiting = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        await Assert.ThrowsAsync<SessionClosedException>(() => waiting.WaitAsync(TestServer.Patience));
        Assert.Equal(0, waited);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AcquireAsync_PerHostLimiterFactoryFailsOnce_FailsThatRequest_AndTheNextStillPassesTheLimiter(bool ofSession)
    {
        var calls = 0;
        var perHost = AdmissionLimiter.PerHost(_ => ++calls == 1
            ? throw new InvalidOperationException("factory failed")
            : new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 }));
        var connector = ofSession ? new Connector("shared") : new Connector("shared", new ConnectorOptions { Limiters = { perHost } });
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: ofSession ? [perHost] : null);

        Assert.Throws<InvalidOperationException>(() => connector.AcquireAsync(session, A, CancellationToken.None));
        var first = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var second = connector.AcquireAsync(session, A, CancellationToken.None).AsTask();

        Assert.False(second.IsCompleted, "the host's limiter has one permit, and the first request holds it");
        first.Release();
        (await second.WaitAsync(TestServer.Patience)).Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));
        await connector.DisposeAsync();
        await perHost.DisposeAsync();
    }

    [Fact]
    public async Task PauseHost_EndsWhileARequestWaitsOnlyForIt_TheRequestTakesItsPermitAndItsSlotAtOnce()
    {
        var time = new FakeTimeProvider();
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0, time);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(5));
        var waiting = connector.AcquireAsync(session, A, CancellationToken.None);
        Assert.Equal((1, 0), (connector.Stats.Waiting, connector.Stats.WaitingForPermit));

        time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
        (await waiting).Release();
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void PauseHost_ItsTimer_IsOneTimerSetForTheEarliestEnd_NeverBelowAMillisecond()
    {
        var time = new RecordingTime();
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0, time);

        connector.PauseHost(new Uri("http://a.test/"), TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(10), time.Dues[^1]);

        connector.PauseHost(new Uri("http://b.test/"), TimeSpan.FromSeconds(4));
        Assert.Equal(TimeSpan.FromSeconds(4), time.Dues[^1]);

        connector.PauseHost(new Uri("http://c.test/"), TimeSpan.FromTicks(5_000));
        Assert.Equal(TimeSpan.FromMilliseconds(1), time.Dues[^1]);
        Assert.Equal(1, time.PauseTimers);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromSeconds(4) - TimeSpan.FromMilliseconds(1), time.Dues[^1]);
        Assert.Equal(2, connector.Stats.Hosts.Count);
    }

    /// <summary>A fake clock that notes the due time of each timer change, and counts the timers made idle (the pause timer).</summary>
    private sealed class RecordingTime : FakeTimeProvider
    {
        public List<TimeSpan> Dues { get; } = [];

        public int PauseTimers { get; private set; }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime == Timeout.InfiniteTimeSpan && period == Timeout.InfiniteTimeSpan)
            {
                PauseTimers++;
            }

            return new Recorded(base.CreateTimer(callback, state, dueTime, period), Dues);
        }

        private sealed class Recorded(ITimer inner, List<TimeSpan> dues) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                dues.Add(dueTime);
                return inner.Change(dueTime, period);
            }

            public void Dispose() => inner.Dispose();

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    [Fact]
    public async Task Reconfigure_ARaisedLimitLetsAWaiterAskForItsPermit_TheLimiterIsAskedOutsideTheConnectorsLock()
    {
        // A limiter is the user's code, which may block or call back into the connector: it is never called under the
        // connector's lock, here when a reconfiguration lets a waiter in.
        Connector? connector = null;
        var underLock = new List<bool>();
        using var limiter = new ScriptedLimiter(attempt: () =>
        {
            underLock.Add(LockOf(connector!).IsHeldByCurrentThread);
            return Lease.Granted();
        });
        connector = new Connector("s", limit: 1, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0), limiters: [AdmissionLimiter.Create(limiter)]);
        var first = await connector.AcquireAsync(session, A, CancellationToken.None).AsTask().WaitAsync(TestServer.Patience);
        var second = connector.AcquireAsync(session, A, CancellationToken.None);
        Assert.False(second.IsCompleted);
        Assert.Equal([false], underLock);

        connector.Reconfigure(new ConnectorOptions { Limit = 2 });

        Assert.True(second.IsCompletedSuccessfully, "the raised Limit lets the waiter in, its permit at hand");
        Assert.Equal([false, false], underLock);
        (await second).Release();
        first.Release();
        Assert.Equal((0, 0), (connector.Stats.InUse, connector.Stats.Waiting));

        static Lock LockOf(Connector connector)
            => (Lock)typeof(Connector).GetField("_lock", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(connector)!;
    }

    /// <summary>A lease as a limiter hands it out: granted or refused, with metadata, counting its disposals.</summary>
    private sealed class Lease(bool acquired, Dictionary<string, object?> values, Action? onDispose) : RateLimitLease
    {
        private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _disposals;

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => values.Keys;

        public int Disposals => Volatile.Read(ref _disposals);

        public Task Disposed => _disposed.Task;

        public static Lease Granted(Action? onDispose = null) => new(true, [], onDispose);

        public static Lease Refused(string? reason = null, TimeSpan? retryAfter = null)
        {
            var metadata = new Dictionary<string, object?>();
            if (reason is not null)
            {
                metadata[MetadataName.ReasonPhrase.Name] = reason;
            }

            if (retryAfter is not null)
            {
                metadata[MetadataName.RetryAfter.Name] = retryAfter.Value;
            }

            return new Lease(false, metadata, null);
        }

        public override bool TryGetMetadata(string metadataName, out object? metadata) => values.TryGetValue(metadataName, out metadata);

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            Interlocked.Increment(ref _disposals);
            _disposed.TrySetResult();
            onDispose?.Invoke();
        }
    }

    /// <summary>A limiter that answers as the test says: refuses at once unless told otherwise, then waits as told.</summary>
    private sealed class ScriptedLimiter(Func<RateLimitLease>? attempt = null, Func<CancellationToken, ValueTask<RateLimitLease>>? acquire = null) : RateLimiter
    {
        private int _disposals;

        public int Disposals => Volatile.Read(ref _disposals);

        public override TimeSpan? IdleDuration => null;

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => attempt?.Invoke() ?? Lease.Refused();

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
            => acquire?.Invoke(cancellationToken) ?? new ValueTask<RateLimitLease>(Lease.Refused());

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            Interlocked.Increment(ref _disposals);
        }
    }

    /// <summary>A budget of one limiter that the admission limiter owns, as a subclass may ask.</summary>
    private sealed class OwningAdmissionLimiter(RateLimiter limiter) : AdmissionLimiter(limiter, ownsLimiter: true);

    /// <summary>A subclass with a finalizer of its own: a dispose must suppress it.</summary>
    private sealed class FinalizingAdmissionLimiter(RateLimiter limiter, StrongBox<int> finalized) : AdmissionLimiter(limiter, ownsLimiter: false)
    {
        ~FinalizingAdmissionLimiter() => Interlocked.Increment(ref finalized.Value);
    }

    /// <summary>An admission limiter that notes when a connector starts and stops admitting through it.</summary>
    private sealed class RecordingAdmissionLimiter(RateLimiter limiter) : AdmissionLimiter(limiter, ownsLimiter: false)
    {
        public List<string> Events { get; } = [];

        protected internal override void OnAttached(Connector connector) => Events.Add($"attached {connector.Name}");

        protected internal override void OnDetached(Connector connector) => Events.Add($"detached {connector.Name}");
    }
}
