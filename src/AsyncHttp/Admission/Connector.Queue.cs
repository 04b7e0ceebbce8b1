using System.Diagnostics;
using AsyncHttp.Internal;

namespace AsyncHttp;

// Admission: the sessions on the connector, the slots they hold, and the queue of the requests waiting for one. Every
// field here is guarded by _lock; Debug.Assert checks the counters against the queues after each change.
public sealed partial class Connector
{
    // Idle host entries are kept so that an uncontended admission allocates nothing; past this many hosts they are swept.
    private const int HostSweepThreshold = 1024;

    /// <summary>
    /// How many grants in a row may go ahead of a host's oldest waiter, to requests that reuse a connection, before it goes
    /// first and takes a connection from another host (see <see cref="ReuseFirst"/>). With two hosts sharing the slots
    /// evenly, a run of 16 releases by the other host alone is one in 65,536.
    /// </summary>
    internal const int MaxPassOvers = 16;

    private readonly Lock _lock = new();
    private readonly Dictionary<HostKey, HostState> _hosts = [];
    private readonly List<ConnectorMember> _members = [];

    // The priority levels of the sessions on the connector, highest first.
    private readonly List<PriorityLevel> _levels = [];
    private readonly List<TransportGeneration> _retiredTransports = [];
    private readonly DeadlineLanes _deadlines;
    private TransportGeneration _transport;
    private int _limit;
    private int _limitPerHost;
    private int _queueLimit;
    private int _inUse;
    private int _waiting;
    private int _openConnections;
    private long _sequence;
    private bool _closed;
    private TaskCompletionSource? _idle;

    /// <summary>Adds a session to the connector, with its own caps inside the pool and its priority.</summary>
    /// <exception cref="ObjectDisposedException">The connector is closed.</exception>
    /// <param name="sessionName">The session's name.</param>
    /// <param name="caps">Its caps inside the pool, and its priority.</param>
    /// <param name="abort">Aborts its requests in flight when the connector closes under it; none for a session's own connector.</param>
    /// <param name="limiters">The session's own limiters, which its requests must pass besides the connector's.</param>
    internal ConnectorMember Join(string sessionName, SessionCaps caps, Action? abort = null, AdmissionLimiter[]? limiters = null)
    {
        ConnectorMember member;
        lock (_lock)
        {
            ThrowIfClosed();
            member = new ConnectorMember(this, sessionName, abort, limiters ?? []) { Caps = caps, Level = LevelFor(caps.Priority) };
            member.Level.Members++;
            _members.Add(member);
            AssertInvariants();
        }

        Attach(member.Limiters);
        return member;
    }

    /// <summary>
    /// Changes a session's caps and priority; a raised cap, or a priority that puts its waiters first, applies to the
    /// next freed slot and admits at once what it can.
    /// </summary>
    internal void SetCaps(ConnectorMember member, SessionCaps caps)
    {
        lock (_lock)
        {
            if (member.Caps.Priority != caps.Priority)
            {
                MoveLevel(member, caps.Priority);
            }

            member.Caps = caps;
            Dispatch();
            AssertInvariants();
        }

        RunDeferred();
    }

    /// <summary>The numbers of one session on the connector.</summary>
    internal SessionStats StatsOf(ConnectorMember member)
    {
        lock (_lock)
        {
            var caps = member.Caps;
            return new SessionStats(member.SessionName, caps.Priority, caps.Limit, caps.LimitPerHost, caps.QueueLimit, member.InUse, member.Waiting)
            {
                OldestWait = OldestWait(member),
                WaitingForPermit = WaitingForPermit(member),
            };
        }
    }

    /// <summary>
    /// What one session holds and has waiting, per host it has either at: the per-session gauges. The connection count
    /// is the host's, for every session on it.
    /// </summary>
    internal List<(HostKey Key, int InUse, int Waiting)> HostsOf(ConnectorMember member)
    {
        List<(HostKey, int, int)> hosts = [];
        lock (_lock)
        {
            foreach (var host in _hosts.Values)
            {
                foreach (var share in host.Shares)
                {
                    if (ReferenceEquals(share.Member, member) && (share.InUse > 0 || share.WaiterCount > 0))
                    {
                        hosts.Add((host.Key, share.InUse, share.WaiterCount));
                    }
                }
            }
        }

        return hosts;
    }

    /// <summary>
    /// Takes a slot for a request of <paramref name="member"/>'s session to <paramref name="key"/>, waiting in the queue
    /// when none it may use is free. The slot comes back only through the returned lease.
    /// </summary>
    /// <param name="member">The session the request belongs to.</param>
    /// <param name="key">The request's host.</param>
    /// <param name="cancellationToken">Takes the request out of the queue.</param>
    /// <param name="deadline">
    /// When the wait gives up with <see cref="QueueDeadlineExceededException"/> (<see cref="Deadline.InQueue"/>); none
    /// when the caller's token carries its timeouts.
    /// </param>
    /// <exception cref="ObjectDisposedException">The session or the connector is closed.</exception>
    /// <exception cref="QueueFullException">The connector's queue, or the session's share of it, is full.</exception>
    internal ValueTask<SlotLease> AcquireAsync(ConnectorMember member, HostKey key, CancellationToken cancellationToken, Deadline? deadline = null)
    {
        if (_limiters.Length + member.Limiters.Length > 0)
        {
            PrepareLimiters(member, key);
        }

        Waiter waiter;
        lock (_lock)
        {
            if (member.Closed)
            {
                throw new ObjectDisposedException(nameof(ClientSession), $"Session '{member.SessionName}' is closed.");
            }

            ThrowIfClosed();
            var share = ShareOf(member, key);

            // No barging: while the session has waiters for this host, a new request queues behind them. After each
            // dispatch no waiter can use a free slot, so a request that can is not taking one a waiter could have had.
            var room = share.WaiterCount == 0 && HasRoom(share);
            if (room && share.Gates.Length == 0)
            {
                return new ValueTask<SlotLease>(Take(share));
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<SlotLease>(cancellationToken);
            }

            if (room)
            {
                // A slot is free but limiters must pass the request first: it waits for its permits as the queue's
                // next request, which a limiter with a permit at hand grants before this call returns.
                waiter = new Waiter(share, ++_sequence) { QueuedAt = Time.GetTimestamp() };
                Enqueue(waiter);
                if (deadline is { } at)
                {
                    _deadlines.Add(waiter, at);
                }

                Dispatch();
                AssertInvariants();
            }
            else if (_queueLimit > 0 && _waiting >= _queueLimit)
            {
                throw _owner is not null
                    ? new QueueFullException(member.SessionName, _queueLimit)
                    : new QueueFullException(member.SessionName, _queueLimit, $"The wait queue of connector '{Name}' is full ({_queueLimit} waiting, all sessions together); the request of session '{member.SessionName}' was rejected without waiting.");
            }

            else if (member.Caps.QueueLimit > 0 && member.Waiting >= member.Caps.QueueLimit)
            {
                throw new QueueFullException(member.SessionName, member.Caps.QueueLimit);
            }
            else
            {
                waiter = new Waiter(share, ++_sequence) { QueuedAt = Time.GetTimestamp() };
                Enqueue(waiter);
                if (deadline is { } due)
                {
                    _deadlines.Add(waiter, due);
                }

                AssertInvariants();
            }
        }

        // Registered outside the lock: a token cancelled meanwhile runs the callback inline, and it takes the lock.
        waiter.RegisterCancellation(cancellationToken);
        RunDeferred();
        return new ValueTask<SlotLease>(waiter, waiter.Version);
    }

    /// <summary>
    /// Stops admitting for one session (its close): its new requests throw, its queued waiters fail with
    /// <see cref="SessionClosedException"/>; the other sessions are untouched. The session leaves the connector once its
    /// last slot is back.
    /// </summary>
    internal void CloseMember(ConnectorMember member)
    {
        List<Waiter> failed = [];
        lock (_lock)
        {
            if (member.Closed)
            {
                return;
            }

            member.Closed = true;
            var waiting = member.Level.Waiting;
            for (var i = waiting.Count - 1; i >= 0; i--)
            {
                if (ReferenceEquals(waiting[i].Member, member))
                {
                    var share = waiting[i];
                    while (share.Head is { } waiter)
                    {
                        Unlink(waiter);
                        failed.Add(waiter);
                    }
                }
            }

            foreach (var waiter in failed)
            {
                Dropped(waiter);
            }

            // A permit a leaving waiter held may complete another waiter's, which then takes a free slot now.
            Dispatch();
            if (member.InUse == 0)
            {
                Leave(member);
            }

            AssertInvariants();
        }

        foreach (var waiter in failed)
        {
            waiter.Fail(new SessionClosedException(member.SessionName));
        }

        RunDeferred();
        Detach(member.Limiters);
    }

    /// <summary>Completes when the connector has no slot in use.</summary>
    internal Task WhenIdleAsync()
    {
        lock (_lock)
        {
            if (_inUse == 0)
            {
                return Task.CompletedTask;
            }

            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    /// <summary>Completes when <paramref name="member"/>'s session has no slot in use.</summary>
    internal Task WhenIdleAsync(ConnectorMember member)
    {
        lock (_lock)
        {
            if (member.InUse == 0)
            {
                return Task.CompletedTask;
            }

            member.Idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return member.Idle.Task;
        }
    }

    /// <summary>Unlinks a waiter that is still queued; false when it was granted or failed already.</summary>
    internal bool TryRemoveWaiter(Waiter waiter)
    {
        lock (_lock)
        {
            if (!waiter.Share.Holds(waiter))
            {
                return false;
            }

            Unlink(waiter);
            Dropped(waiter);

            // A permit it held may complete another waiter's, which then takes a free slot now (no release may follow).
            Dispatch();
            AssertInvariants();
        }

        RunDeferred();
        return true;
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new ObjectDisposedException(nameof(Connector), $"Connector '{Name}' is closed.");
        }
    }

    /// <summary>
    /// Changes the connector's limits; raising one admits waiters at once, lowering one lets the requests in flight
    /// finish. The caller runs the work deferred meanwhile (<see cref="RunDeferred"/>) once it has released the lock.
    /// </summary>
    private void SetLimits(int limit, int limitPerHost, int queueLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(limitPerHost);
        ArgumentOutOfRangeException.ThrowIfNegative(queueLimit);
        lock (_lock)
        {
            _limit = limit;
            _limitPerHost = limitPerHost;
            _queueLimit = queueLimit;
            Dispatch();

            // A raised Limit lets connects waiting for room in.
            CloseVictims(GrantRooms());
            AssertInvariants();
        }
    }

    /// <summary>
    /// Counts a slot of <paramref name="share"/>'s host as taken by its session, on the current transport, and returns
    /// the lease that alone gives it back.
    /// </summary>
    private SlotLease Take(HostShare share, System.Threading.RateLimiting.RateLimitLease?[]? permits = null)
    {
        _inUse++;
        share.Host.InUse++;
        share.InUse++;
        share.Member.InUse++;
        var transport = _transport;
        transport.Active++;
        return new SlotLease(share, transport, permits);
    }

    /// <summary>
    /// Gives back a slot and hands it to the waiter the dispatch picks. Private: only <see cref="SlotLease.Release"/>
    /// calls it, once per lease.
    /// </summary>
    private void Return(HostShare share, TransportGeneration transport, SlotLease lease)
    {
        var done = false;
        lock (_lock)
        {
            if (lease.Bound)
            {
                share.Host.Bound--;
            }

            // The hop's connection, its response read, is idle in the pool now (unless another request took it since):
            // marked before the slot goes back, so that a connect the slot lets in may close it for room.
            if (lease.Connection is { Connection: { } connection, Uses: var uses })
            {
                MarkIdle(connection, uses);
            }

            _inUse--;
            share.Host.InUse--;
            share.InUse--;
            var member = share.Member;
            member.InUse--;
            transport.Active--;
            if (transport.Retired && transport.Active == 0 && _retiredTransports.Remove(transport))
            {
                done = true;
            }

            Dispatch();
            CloseVictims(GrantRooms());
            if (_inUse == 0 && _idle is not null)
            {
                _idle.TrySetResult();
                _idle = null;
            }

            if (member.InUse == 0)
            {
                member.Idle?.TrySetResult();
                member.Idle = null;
                if (member.Closed)
                {
                    Leave(member);
                }
            }

            AssertInvariants();
        }

        if (done)
        {
            // The last slot of a retired transport came back: it closes its connections, outside the lock.
            transport.Dispose();
        }

        RunDeferred();
    }

    /// <summary>True when a request of <paramref name="share"/>'s session to its host may take a slot now.</summary>
    private bool HasRoom(HostShare share) => (_limit == 0 || _inUse < _limit) && IsEligible(share);

    /// <summary>
    /// The host's limit, its pause (<c>Retry-After</c>) and the session's own caps let <paramref name="share"/> take a
    /// slot (the total and the limiters aside).
    /// </summary>
    private bool IsEligible(HostShare share)
        => (_limitPerHost == 0 || share.Host.InUse < _limitPerHost) && share.Host.PausedUntil == 0 && share.Member.HasRoom(share);

    /// <summary>
    /// Hands free slots to waiters: each time to the oldest eligible head among the sessions of the highest priority
    /// that has one. O(sessions' hosts with waiters) per grant: every waiter of a share is held back by the same limits
    /// as its head, so heads are all it looks at. A head that would take the slot but lacks a limiter's permit does not
    /// take it: the limiter is asked for a permit (<see cref="RequestPermits"/>) and the slot goes on to the next head
    /// in order, so a request never holds a slot while it waits for a permit.
    /// </summary>
    private void Dispatch()
    {
        var round = ++_dispatchRound;
        while (_waiting > 0 && (_limit == 0 || _inUse < _limit))
        {
            HostShare? best = null;
            foreach (var level in _levels)
            {
                foreach (var share in level.Waiting)
                {
                    if ((best is null || share.Head!.Sequence < best.Head!.Sequence) && share.LacksPermitRound != round && IsEligible(share))
                    {
                        best = share;
                    }
                }

                if (best is not null)
                {
                    // A lower priority gets a slot only when no session of a higher one can use it.
                    best = ReuseFirst(level, best, round);
                    break;
                }
            }

            if (best is null)
            {
                break;
            }

            var waiter = best.Head!;
            if (best.Gates.Length > 0 && !HoldsPermits(waiter))
            {
                best.LacksPermitRound = round;
                RequestPermits(waiter);
                continue;
            }

            Unlink(waiter);
            best.PassedOver = 0;
            waiter.Grant(Take(best, waiter.Permits));
        }

        AssertNoEligibleWaiter();
    }

    /// <summary>
    /// Keeps connections with their hosts while requests alternate between hosts under a Limit full of connections. The
    /// oldest head (<paramref name="oldest"/>) goes first, unless its host has no idle connection and every connection
    /// the Limit allows is open: granting it would end another host's idle connection to open one, and the next request
    /// of that host would do the same in turn (the connections churn, one connect per request or two). Then the oldest
    /// head of the same priority whose host has an idle connection goes first, and the share passed over counts it; a
    /// share passed over <see cref="MaxPassOvers"/> times in a row goes first anyway (its host needs a connection for
    /// good, and gets one). So the order is arrival order, but for at most that many grants ahead of a waiter, and only
    /// to requests that reuse a connection instead of closing one.
    /// </summary>
    /// <remarks>
    /// A host reached through an http proxy counts its connections under the proxy's key, so it never has an idle
    /// connection of its own here; an HTTP/2 host's streams are not bound to its connection. Either may be passed over
    /// needlessly, at most <see cref="MaxPassOvers"/> times in a row, and only while the connections fill the Limit.
    /// </remarks>
    private HostShare ReuseFirst(PriorityLevel level, HostShare oldest, long round)
    {
        if (_limit == 0 || _openConnections < _limit || oldest.Host.HasSpareConnection || oldest.PassedOver >= MaxPassOvers)
        {
            return oldest;
        }

        HostShare? reuse = null;
        foreach (var share in level.Waiting)
        {
            if (share.Host.HasSpareConnection && (reuse is null || share.Head!.Sequence < reuse.Head!.Sequence) && share.LacksPermitRound != round && IsEligible(share))
            {
                reuse = share;
            }
        }

        if (reuse is null)
        {
            return oldest;
        }

        oldest.PassedOver++;
        return reuse;
    }

    private void Enqueue(Waiter waiter)
    {
        var share = waiter.Share;
        share.Enqueue(waiter);
        if (share.WaiterCount == 1)
        {
            share.Member.Level.Waiting.Add(share);
            share.PassedOver = 0;
        }

        share.Host.Waiting++;
        share.Member.Waiting++;
        _waiting++;
    }

    private void Unlink(Waiter waiter)
    {
        var share = waiter.Share;
        share.Remove(waiter);
        DeadlineLanes.Remove(waiter);
        share.Host.Waiting--;
        share.Member.Waiting--;
        _waiting--;
        if (share.WaiterCount == 0)
        {
            share.Member.Level.Waiting.Remove(share);
        }
    }

    /// <summary>Closes the queue: every waiter is unlinked and returned, with its session's name, to be failed outside the lock.</summary>
    private List<(Waiter Waiter, string Session)> CloseQueue()
    {
        List<(Waiter, string)> failed = [];
        _closed = true;
        foreach (var level in _levels)
        {
            for (var i = level.Waiting.Count - 1; i >= 0; i--)
            {
                var share = level.Waiting[i];
                while (share.Head is { } waiter)
                {
                    Unlink(waiter);
                    Dropped(waiter);
                    failed.Add((waiter, share.Member.SessionName));
                }
            }
        }

        StopPermitsAndPauses();
        _deadlines.Stop();
        AssertInvariants();
        return failed;
    }

    /// <summary>The deadline timer fired: fails the waiters whose deadline has passed.</summary>
    private void ExpireWaiters()
    {
        List<(Waiter Waiter, TimeoutKind Kind)>? expired = null;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            var now = _deadlines.Now;
            while (_deadlines.NextExpired(now) is Waiter waiter)
            {
                (expired ??= []).Add((waiter, waiter.Lane!.Kind));
                Unlink(waiter);
                Dropped(waiter);
            }

            // A permit an expired waiter held may complete another waiter's, which then takes a free slot now.
            Dispatch();
            _deadlines.Rearm();
            AssertInvariants();
        }

        if (expired is not null)
        {
            foreach (var (waiter, kind) in expired)
            {
                waiter.Fail(new QueueDeadlineExceededException(kind));
            }
        }

        RunDeferred();
    }

    /// <summary>
    /// How long the oldest waiter (of <paramref name="member"/>'s session, or of any) has waited: each share's queue is
    /// in arrival order, so it is one of the heads.
    /// </summary>
    private TimeSpan OldestWait(ConnectorMember? member)
    {
        var oldest = long.MaxValue;
        foreach (var level in _levels)
        {
            foreach (var share in level.Waiting)
            {
                if (member is null || ReferenceEquals(share.Member, member))
                {
                    oldest = Math.Min(oldest, share.Head!.QueuedAt);
                }
            }
        }

        return oldest == long.MaxValue ? TimeSpan.Zero : Time.GetElapsedTime(oldest);
    }

    /// <summary>The level of <paramref name="priority"/>, added in its place (highest first) when no session has it yet.</summary>
    private PriorityLevel LevelFor(int priority)
    {
        var index = 0;
        for (; index < _levels.Count && _levels[index].Priority >= priority; index++)
        {
            if (_levels[index].Priority == priority)
            {
                return _levels[index];
            }
        }

        var level = new PriorityLevel(priority);
        _levels.Insert(index, level);
        return level;
    }

    /// <summary>Moves a session, with its shares that have waiters, to the level of <paramref name="priority"/>.</summary>
    private void MoveLevel(ConnectorMember member, int priority)
    {
        var from = member.Level;
        var to = LevelFor(priority);
        for (var i = from.Waiting.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(from.Waiting[i].Member, member))
            {
                to.Waiting.Add(from.Waiting[i]);
                from.Waiting.RemoveAt(i);
            }
        }

        to.Members++;
        member.Level = to;
        LeaveLevel(from);
    }

    private void LeaveLevel(PriorityLevel level)
    {
        if (--level.Members == 0)
        {
            Debug.Assert(level.Waiting.Count == 0, $"Priority {level.Priority} has waiters but no session.");
            _levels.Remove(level);
        }
    }

    /// <summary>A closed session's last slot is back: it leaves the connector, and its shares of the hosts go.</summary>
    private void Leave(ConnectorMember member)
    {
        if (!_members.Remove(member))
        {
            return;
        }

        LeaveLevel(member.Level);
        member.LastShare = null;
        foreach (var host in _hosts.Values)
        {
            for (var i = host.Shares.Count - 1; i >= 0; i--)
            {
                if (ReferenceEquals(host.Shares[i].Member, member))
                {
                    host.Shares.RemoveAt(i);
                }
            }
        }
    }

    private HostShare ShareOf(ConnectorMember member, HostKey key)
    {
        if (member.LastShare is { } last && last.Host.Key.Equals(key))
        {
            return last;
        }

        var share = GetOrAddHost(key).ShareOf(member, out var created);
        if (created)
        {
            share.Gates = GatesOf(member, key);
        }

        member.LastShare = share;
        return share;
    }

    private HostState GetOrAddHost(HostKey key)
    {
        if (_hosts.TryGetValue(key, out var host))
        {
            return host;
        }

        if (_hosts.Count >= HostSweepThreshold)
        {
            foreach (var (idleKey, idle) in _hosts)
            {
                if (idle.IsIdle)
                {
                    _hosts.Remove(idleKey);
                }
            }

            // A session's last share may have been of a host swept now: it is found again on its next admission.
            foreach (var member in _members)
            {
                member.LastShare = null;
            }
        }

        host = new HostState(this, key);
        _hosts.Add(key, host);
        return host;
    }

    /// <summary>
    /// Checks the connector's counters against its queues after each change (Debug builds, which the tests run): no
    /// count below zero; the waiting counts equal to what the queues hold; the slots of the hosts, of the sessions and
    /// of the transports each adding up to the connector's.
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_inUse >= 0, $"In use is {_inUse}.");
        Debug.Assert(_waiting >= 0, $"Waiting is {_waiting}.");
        Debug.Assert(_openConnections >= 0, $"Open connections is {_openConnections}.");
        var queued = 0;
        for (var i = 0; i < _levels.Count; i++)
        {
            var level = _levels[i];
            Debug.Assert(i == 0 || _levels[i - 1].Priority > level.Priority, "The priority levels are not in order, highest first.");
            Debug.Assert(level.Members > 0, $"Priority {level.Priority} has no session.");
            foreach (var share in level.Waiting)
            {
                Debug.Assert(share.WaiterCount > 0, $"Host {share.Host.Key} of session '{share.Member.SessionName}' is listed as waiting with an empty queue.");
                Debug.Assert(ReferenceEquals(share.Member.Level, level), $"Session '{share.Member.SessionName}' waits at a priority it does not have.");
                queued += share.WaiterCount;
            }
        }

        Debug.Assert(queued == _waiting, $"Waiting is {_waiting} while the queues hold {queued}.");
        var inUse = 0;
        foreach (var host in _hosts.Values)
        {
            Debug.Assert(host.InUse >= 0 && host.OpenConnections >= 0 && host.Waiting >= 0, $"Host {host.Key} has a negative count.");
            int shareInUse = 0, shareWaiting = 0;
            foreach (var share in host.Shares)
            {
                Debug.Assert(share.InUse >= 0 && share.WaiterCount >= 0, $"Host {host.Key} of session '{share.Member.SessionName}' has a negative count.");
                shareInUse += share.InUse;
                shareWaiting += share.WaiterCount;
            }

            Debug.Assert(shareInUse == host.InUse, $"Sessions hold {shareInUse} slots of host {host.Key}, which counts {host.InUse}.");
            Debug.Assert(shareWaiting == host.Waiting, $"Sessions have {shareWaiting} waiters for host {host.Key}, which counts {host.Waiting}.");
            inUse += host.InUse;
        }

        Debug.Assert(inUse == _inUse, $"Hosts hold {inUse} slots while the connector counts {_inUse}.");
        var idleListed = 0;
        for (var connection = _idleHead; connection is not null; connection = connection.IdleNext)
        {
            idleListed++;
        }

        var idleCounted = 0;
        foreach (var host in _hosts.Values)
        {
            Debug.Assert(host.IdleConnections >= 0 && host.IdleConnections <= host.OpenConnections, $"Host {host.Key} counts {host.IdleConnections} idle of {host.OpenConnections} open connections.");
            idleCounted += host.IdleConnections;
        }

        Debug.Assert(idleListed == idleCounted, $"The idle list holds {idleListed} connections while the hosts count {idleCounted}.");
        int membersInUse = 0, membersWaiting = 0;
        foreach (var member in _members)
        {
            Debug.Assert(member.InUse >= 0 && member.Waiting >= 0, $"Session '{member.SessionName}' has a negative count.");
            int ownInUse = 0, ownWaiting = 0;
            foreach (var host in _hosts.Values)
            {
                foreach (var share in host.Shares)
                {
                    if (ReferenceEquals(share.Member, member))
                    {
                        ownInUse += share.InUse;
                        ownWaiting += share.WaiterCount;
                    }
                }
            }

            Debug.Assert(ownInUse == member.InUse, $"Session '{member.SessionName}' holds {ownInUse} slots of its hosts and counts {member.InUse}.");
            Debug.Assert(ownWaiting == member.Waiting, $"Session '{member.SessionName}' has {ownWaiting} waiters at its hosts and counts {member.Waiting}.");
            membersInUse += member.InUse;
            membersWaiting += member.Waiting;
        }

        Debug.Assert(membersInUse == _inUse, $"Sessions hold {membersInUse} slots while the connector counts {_inUse}.");
        Debug.Assert(membersWaiting == _waiting, $"Sessions have {membersWaiting} waiters while the connector counts {_waiting}.");
        var onTransports = _transport.Active;
        foreach (var retired in _retiredTransports)
        {
            onTransports += retired.Active;
        }

        Debug.Assert(onTransports == _inUse, $"Transports carry {onTransports} slots while the connector counts {_inUse}.");
    }

    /// <summary>After a dispatch, no waiter can use a free slot: otherwise one would wait while a slot it may take is idle.</summary>
    [Conditional("DEBUG")]
    private void AssertNoEligibleWaiter()
    {
        if (_closed || (_limit != 0 && _inUse >= _limit))
        {
            return;
        }

        foreach (var level in _levels)
        {
            foreach (var share in level.Waiting)
            {
                // One that lacks a permit may wait with a slot free, but only while its limiters are asked for one.
                var eligible = IsEligible(share);
                Debug.Assert(
                    !eligible || (share.Gates.Length > 0 && !HoldsPermits(share.Head!)),
                    $"A waiter of session '{share.Member.SessionName}' for {share.Host.Key} could use a free slot.");
                if (eligible)
                {
                    AssertPermitsAsked(share);
                }
            }
        }
    }
}
