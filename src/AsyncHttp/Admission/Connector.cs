using System.Diagnostics;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// The admission stage of a session: a slot of <see cref="ClientSessionOptions.Limit"/> and one of the host's
/// <see cref="ClientSessionOptions.LimitPerHost"/> for each request, held from admission until the response is
/// released, and a fair wait queue for the requests beyond them.
/// </summary>
/// <remarks>
/// <para>
/// The freed slot goes to the oldest waiter that can use it: a waiter held back only by its host's limit never
/// blocks waiters for other hosts, and a new request never overtakes an eligible waiter.
/// </para>
/// <para>
/// With HTTP/1.1 a slot is a connection, since a connection carries one request at a time. With HTTP/2 a slot is a
/// request in flight: several may share one connection.
/// </para>
/// </remarks>
public sealed partial class Connector
{
    // Idle host entries are kept so that an uncontended admission allocates nothing; past this many hosts they are swept.
    private const int HostSweepThreshold = 1024;

    private readonly Lock _lock = new();
    private readonly Dictionary<HostKey, HostState> _hosts = [];
    private readonly List<HostState> _hostsWithWaiters = [];
    private readonly string _sessionName;
    private readonly DeadlineLanes _deadlines;
    private readonly TimeProvider _time;
    private int _limit;
    private int _limitPerHost;
    private int _queueLimit;
    private int _inUse;
    private int _waiting;
    private int _openConnections;
    private long _sequence;
    private bool _closed;
    private TaskCompletionSource? _idle;

    // The host of the last admission: a session mostly calls one host, and comparing its key is cheaper than hashing it.
    private HostState? _lastHost;

    internal Connector(string sessionName, int limit, int limitPerHost, int queueLimit, TimeProvider? time = null)
    {
        _sessionName = sessionName;
        _time = time ?? TimeProvider.System;
        _deadlines = new DeadlineLanes(_time, ExpireWaiters);
        SetLimits(limit, limitPerHost, queueLimit);
    }

    /// <summary>The name of the session the connector belongs to.</summary>
    internal string SessionName => _sessionName;

    /// <summary>A consistent snapshot of the limits, the slots in use, the queue and the open connections.</summary>
    public ConnectorStats Stats
    {
        get
        {
            lock (_lock)
            {
                var hosts = new List<HostStats>(_hosts.Count);
                foreach (var host in _hosts.Values)
                {
                    if (!host.IsIdle)
                    {
                        hosts.Add(new HostStats(host.Key.ToString(), host.InUse, host.WaiterCount, host.OpenConnections)
                        {
                            Scheme = host.Key.Scheme,
                            Address = host.Key.Address,
                            Port = host.Key.Port,
                        });
                    }
                }

                return new ConnectorStats(_limit, _limitPerHost, _queueLimit, _inUse, _waiting, _openConnections, hosts)
                {
                    OldestWait = OldestWait(),
                };
            }
        }
    }

    /// <summary>
    /// Takes a slot for a request to <paramref name="key"/>, waiting in the queue when none is free. The slot comes back
    /// only through the returned lease.
    /// </summary>
    /// <param name="key">The request's host.</param>
    /// <param name="cancellationToken">Takes the request out of the queue.</param>
    /// <param name="deadline">
    /// When the wait gives up with <see cref="QueueDeadlineExceededException"/> (<see cref="Deadline.InQueue"/>); none
    /// when the caller's token carries its timeouts.
    /// </param>
    /// <exception cref="ObjectDisposedException">The session is closed.</exception>
    /// <exception cref="QueueFullException">The queue holds <see cref="ClientSessionOptions.QueueLimit"/> waiters already.</exception>
    internal ValueTask<SlotLease> AcquireAsync(HostKey key, CancellationToken cancellationToken, Deadline? deadline = null)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(ClientSession), $"Session '{_sessionName}' is closed.");
            }

            var host = GetOrAddHost(key);

            // No barging: while this host has waiters, a new request queues behind them even if a slot looks free.
            if (host.WaiterCount == 0 && HasCapacity(host))
            {
                return new ValueTask<SlotLease>(Take(host));
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<SlotLease>(cancellationToken);
            }

            if (_queueLimit > 0 && _waiting >= _queueLimit)
            {
                throw new QueueFullException(_sessionName, _queueLimit);
            }

            waiter = new Waiter(host, ++_sequence) { QueuedAt = _time.GetTimestamp() };
            host.Enqueue(waiter);
            if (host.WaiterCount == 1)
            {
                _hostsWithWaiters.Add(host);
            }

            _waiting++;
            if (deadline is { } due)
            {
                _deadlines.Add(waiter, due);
            }

            AssertInvariants();
        }

        // Registered outside the lock: a token cancelled meanwhile runs the callback inline, and it takes the lock.
        waiter.RegisterCancellation(cancellationToken);
        return new ValueTask<SlotLease>(waiter, waiter.Version);
    }

    /// <summary>Counts a slot of <paramref name="host"/> as taken and returns the lease that alone gives it back. Runs under the lock.</summary>
    private SlotLease Take(HostState host)
    {
        _inUse++;
        host.InUse++;
        AssertInvariants();
        return new SlotLease(host);
    }

    /// <summary>
    /// Gives back a slot and hands it to the oldest eligible waiter. Private: only <see cref="SlotLease.Release"/> calls
    /// it, once per lease.
    /// </summary>
    private void Return(HostState host)
    {
        lock (_lock)
        {
            _inUse--;
            host.InUse--;
            Dispatch();
            if (_inUse == 0 && _idle is not null)
            {
                _idle.TrySetResult();
                _idle = null;
            }

            AssertInvariants();
        }
    }

    /// <summary>Changes the limits; raising one admits waiters at once, lowering one lets the requests in flight finish.</summary>
    internal void SetLimits(int limit, int limitPerHost, int queueLimit)
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
            AssertInvariants();
        }
    }

    /// <summary>Stops admitting: new requests throw, queued waiters fail with <see cref="SessionClosedException"/>.</summary>
    internal void Close()
    {
        List<Waiter> failed = [];
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            foreach (var host in _hostsWithWaiters)
            {
                while (host.Head is { } waiter)
                {
                    host.Remove(waiter);
                    DeadlineLanes.Remove(waiter);
                    failed.Add(waiter);
                }
            }

            _hostsWithWaiters.Clear();
            _waiting = 0;
            _deadlines.Stop();
            AssertInvariants();
        }

        foreach (var waiter in failed)
        {
            waiter.Fail(new SessionClosedException(_sessionName));
        }
    }

    /// <summary>Completes when no slot is in use.</summary>
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

    /// <summary>Unlinks a waiter that is still queued; false when it was granted or failed already.</summary>
    internal bool TryRemoveWaiter(Waiter waiter)
    {
        lock (_lock)
        {
            if (!waiter.Host.Holds(waiter))
            {
                return false;
            }

            Unlink(waiter);
            AssertInvariants();
            return true;
        }
    }

    /// <summary>
    /// Counts one more connection to <paramref name="key"/> as open, from before it is made: at once while fewer than
    /// <paramref name="perServer"/> are, otherwise once one closes. The transport never makes more connections to a
    /// server than that (its own cap), but it counts one closed before its socket is: a new connect could then start
    /// while the old socket is still closing. Waiting here for the count makes the bound hold at every moment.
    /// </summary>
    /// <returns>Completes with the room reserved; <see cref="ConnectionClosed"/> gives it back.</returns>
    internal ValueTask ReserveConnectionAsync(HostKey key, int perServer, CancellationToken cancellationToken)
    {
        TaskCompletionSource room;
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            if (host.OpenConnections < perServer && host.ConnectionWaiters is not { Count: > 0 })
            {
                host.OpenConnections++;
                _openConnections++;
                AssertInvariants();
                return ValueTask.CompletedTask;
            }

            room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (host.ConnectionWaiters ??= new Queue<TaskCompletionSource>()).Enqueue(room);
        }

        if (cancellationToken.CanBeCanceled)
        {
            // A room granted at the same instant is passed on: see ConnectionClosed.
            cancellationToken.UnsafeRegister(static (s, token) => ((TaskCompletionSource)s!).TrySetCanceled(token), room);
        }

        return new ValueTask(room.Task);
    }

    /// <summary>A connection closed, or a reserved connect failed: its room goes to the next connect waiting for one.</summary>
    internal void ConnectionClosed(HostKey key)
    {
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            while (host.ConnectionWaiters is { Count: > 0 } waiters)
            {
                // The room passes to the waiter as it is: the count stays.
                if (waiters.Dequeue().TrySetResult())
                {
                    AssertInvariants();
                    return;
                }
            }

            host.OpenConnections--;
            _openConnections--;
            AssertInvariants();
        }
    }

    /// <summary>How long the oldest waiter has waited: each host's queue is in arrival order, so it is one of the heads.</summary>
    private TimeSpan OldestWait()
    {
        if (_hostsWithWaiters.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var oldest = long.MaxValue;
        foreach (var host in _hostsWithWaiters)
        {
            oldest = Math.Min(oldest, host.Head!.QueuedAt);
        }

        return _time.GetElapsedTime(oldest);
    }

    private bool HasCapacity(HostState host)
        => (_limit == 0 || _inUse < _limit) && (_limitPerHost == 0 || host.InUse < _limitPerHost);

    private void Unlink(Waiter waiter)
    {
        var host = waiter.Host;
        host.Remove(waiter);
        DeadlineLanes.Remove(waiter);
        _waiting--;
        if (host.WaiterCount == 0)
        {
            _hostsWithWaiters.Remove(host);
        }
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
            }

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
    }

    /// <summary>Hands free slots to the oldest waiters that can use them. Runs under the lock.</summary>
    private void Dispatch()
    {
        while (_hostsWithWaiters.Count > 0 && (_limit == 0 || _inUse < _limit))
        {
            // The oldest head among the hosts with a free per-host slot: O(hosts waiting), not O(waiters).
            HostState? best = null;
            foreach (var host in _hostsWithWaiters)
            {
                if ((_limitPerHost == 0 || host.InUse < _limitPerHost) && (best is null || host.Head!.Sequence < best.Head!.Sequence))
                {
                    best = host;
                }
            }

            if (best is null)
            {
                return;
            }

            var waiter = best.Head!;
            Unlink(waiter);
            waiter.Grant(Take(best));
        }
    }

    /// <summary>
    /// Checks the connector's counters against its queues after each change (Debug builds, which the tests run): no
    /// count below zero, and the waiting count equal to what the host queues hold.
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_inUse >= 0, $"In use is {_inUse}.");
        Debug.Assert(_waiting >= 0, $"Waiting is {_waiting}.");
        Debug.Assert(_openConnections >= 0, $"Open connections is {_openConnections}.");
        var queued = 0;
        foreach (var host in _hostsWithWaiters)
        {
            Debug.Assert(host.WaiterCount > 0, $"Host {host.Key} is listed as waiting with an empty queue.");
            queued += host.WaiterCount;
        }

        Debug.Assert(queued == _waiting, $"Waiting is {_waiting} while the host queues hold {queued}.");
        var inUse = 0;
        foreach (var host in _hosts.Values)
        {
            Debug.Assert(host.InUse >= 0 && host.OpenConnections >= 0 && host.WaiterCount >= 0, $"Host {host.Key} has a negative count.");
            inUse += host.InUse;
        }

        Debug.Assert(inUse == _inUse, $"Hosts hold {inUse} slots while the connector counts {_inUse}.");
    }

    private HostState GetOrAddHost(HostKey key)
    {
        if (_lastHost is { } last && last.Key.Equals(key))
        {
            return last;
        }

        if (_hosts.TryGetValue(key, out var host))
        {
            _lastHost = host;
            return host;
        }

        if (_hosts.Count >= HostSweepThreshold)
        {
            foreach (var (idleKey, idle) in _hosts)
            {
                if (idle.IsIdle)
                {
                    _hosts.Remove(idleKey);
                    if (ReferenceEquals(idle, _lastHost))
                    {
                        _lastHost = null;
                    }
                }
            }
        }

        host = new HostState(this, key);
        _hosts.Add(key, host);
        _lastHost = host;
        return host;
    }
}
