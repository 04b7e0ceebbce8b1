using System.Diagnostics;
using System.Threading.RateLimiting;
using AsyncHttp.Internal;

namespace AsyncHttp;

// Admission's limiters (permits a request needs besides a slot) and host pauses (Retry-After). Fields are guarded by
// _lock, like the queue's; what calls into a limiter runs outside it (RunDeferred), since a limiter may block on a lock
// of its own or do I/O.
public sealed partial class Connector
{
    private readonly AdmissionLimiter[] _limiters;
    private readonly Dictionary<RateLimiter, PermitGate> _gates = [];
    private List<DeferredWork>? _deferred;
    private long _dispatchRound;
    private ITimer? _pauseTimer;

    /// <summary>
    /// Raised when admission to a host pauses or its pause lengthens: after a response's <c>Retry-After</c> (on a
    /// <c>429</c> or <c>503</c>, for a session with <see cref="ClientSessionOptions.RetryAfter"/> on;
    /// <see cref="HostPausedEventArgs.FromResponse"/>), or through <see cref="PauseHost"/>. Raised outside the
    /// connector's lock; a handler must not block. A distributed limiter shares the pauses from responses with the other
    /// processes.
    /// </summary>
    public event EventHandler<HostPausedEventArgs>? HostPaused;

    /// <summary>
    /// Pauses admission to a host (scheme, host and port of <paramref name="host"/>) for <paramref name="duration"/>:
    /// its requests wait in the queue meanwhile, in their order, and the requests to other hosts go on. A pause only
    /// ever lengthens: a shorter one than the pause in force changes nothing.
    /// </summary>
    /// <param name="host">A URL of the host; only its scheme, host and port count.</param>
    /// <param name="duration">How long; zero or less does nothing.</param>
    public void PauseHost(Uri host, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!host.IsAbsoluteUri)
        {
            throw new ArgumentException($"The host must be an absolute URL; it is '{host}'.", nameof(host));
        }

        var key = HostKey.From(host);
        if (Pause(key, duration))
        {
            HostPaused?.Invoke(this, new HostPausedEventArgs(new Uri(key.ToString()), duration, null));
        }
    }

    /// <summary>A response said <c>Retry-After</c>: admission to its host pauses, and <see cref="HostPaused"/> is raised.</summary>
    internal void PauseFromResponse(HostKey key, TimeSpan duration, string sessionName)
    {
        if (Pause(key, duration))
        {
            HostPaused?.Invoke(this, new HostPausedEventArgs(new Uri(key.ToString()), duration, sessionName));
        }
    }

    /// <summary>Calls <see cref="AdmissionLimiter.OnAttached"/> of limiters that start admitting here, outside the lock.</summary>
    private void Attach(AdmissionLimiter[] limiters)
    {
        foreach (var limiter in limiters)
        {
            limiter.OnAttached(this);
        }
    }

    /// <summary>Calls <see cref="AdmissionLimiter.OnDetached"/>, outside the lock.</summary>
    private void Detach(AdmissionLimiter[] limiters)
    {
        foreach (var limiter in limiters)
        {
            limiter.OnDetached(this);
        }
    }

    /// <summary>
    /// Warms the limiters of <paramref name="member"/>'s requests to <paramref name="key"/> before admission takes the
    /// lock: a per-host limiter is made by the user's factory, which must not run under it.
    /// </summary>
    private void PrepareLimiters(ConnectorMember member, HostKey key)
    {
        foreach (var limiter in _limiters)
        {
            limiter.For(key);
        }

        foreach (var limiter in member.Limiters)
        {
            limiter.For(key);
        }
    }

    /// <summary>
    /// The gates a request of <paramref name="member"/> to <paramref name="key"/> must pass: the connector's limiters, then
    /// the session's, each limiter once. A permit is handed to a waiter by its gate, so a gate listed twice (one limiter
    /// given to the connector and to the session) would have one permit waiting for ever while its other one was asked
    /// for again and again.
    /// </summary>
    private PermitGate[] GatesOf(ConnectorMember member, HostKey key)
    {
        var count = _limiters.Length + member.Limiters.Length;
        if (count == 0)
        {
            return [];
        }

        var gates = new List<PermitGate>(count);
        for (var i = 0; i < count; i++)
        {
            var limiter = (i < _limiters.Length ? _limiters[i] : member.Limiters[i - _limiters.Length]).For(key);
            if (!_gates.TryGetValue(limiter, out var gate))
            {
                gate = new PermitGate(limiter);
                _gates.Add(limiter, gate);
            }

            if (!gates.Contains(gate))
            {
                gates.Add(gate);
            }
        }

        return [.. gates];
    }

    /// <summary>True when <paramref name="waiter"/> holds a permit of every gate of its share.</summary>
    private static bool HoldsPermits(Waiter waiter)
    {
        var permits = waiter.Permits;
        if (permits is null)
        {
            return false;
        }

        foreach (var permit in permits)
        {
            if (permit is null)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The waiter would take the next slot but lacks permits: each gate it lacks one of is asked for a permit, unless an
    /// acquisition is in flight there already (its permit goes to the best waiter that needs it when it comes).
    /// </summary>
    private void RequestPermits(Waiter waiter)
    {
        var gates = waiter.Share.Gates;
        for (var i = 0; i < gates.Length; i++)
        {
            if (waiter.Permits?[i] is null && !gates[i].Pending)
            {
                gates[i].Pending = true;
                Defer(new DeferredWork(gates[i], null, null));
            }
        }
    }

    /// <summary>
    /// A waiter left the queue without a slot (cancelled, timed out, closed, refused): the permits it held go to the
    /// waiters that need them, or back to their limiters; an acquisition no one needs any more is cancelled.
    /// </summary>
    private void Dropped(Waiter waiter)
    {
        var gates = waiter.Share.Gates;
        if (gates.Length == 0)
        {
            return;
        }

        for (var i = 0; i < gates.Length; i++)
        {
            if (waiter.Permits?[i] is { } permit)
            {
                waiter.Permits[i] = null;
                if (!HandOver(gates[i], permit))
                {
                    Defer(new DeferredWork(null, permit, null));
                }
            }
            else if (gates[i] is { Pending: true, Cancellation: { } cancellation } gate && BestNeeding(gate) is null)
            {
                gate.Cancellation = null;
                Defer(new DeferredWork(null, null, cancellation));
            }
        }
    }

    /// <summary>Gives <paramref name="permit"/> of <paramref name="gate"/> to the best waiter that needs it; false when none does.</summary>
    private bool HandOver(PermitGate gate, RateLimitLease permit)
    {
        if (BestNeeding(gate) is not { } waiter)
        {
            return false;
        }

        var index = Array.IndexOf(waiter.Share.Gates, gate);
        (waiter.Permits ??= new RateLimitLease?[waiter.Share.Gates.Length])[index] = permit;
        return true;
    }

    /// <summary>
    /// The waiter a permit of <paramref name="gate"/> goes to, by the queue's order: among the heads that lack one, the
    /// oldest of the highest priority whose host and session could take a slot now; failing that, the oldest of the
    /// highest priority. Only heads: the others of a share wait behind theirs anyway.
    /// </summary>
    private Waiter? BestNeeding(PermitGate gate)
    {
        Waiter? any = null;
        foreach (var level in _levels)
        {
            Waiter? eligible = null;
            foreach (var share in level.Waiting)
            {
                var index = Array.IndexOf(share.Gates, gate);
                var head = share.Head!;
                if (index < 0 || head.Permits?[index] is not null)
                {
                    continue;
                }

                if (IsEligible(share) && (eligible is null || head.Sequence < eligible.Sequence))
                {
                    eligible = head;
                }

                if (any is null || (ReferenceEquals(any.Share.Member.Level, level) && head.Sequence < any.Sequence))
                {
                    any = head;
                }
            }

            if (eligible is not null)
            {
                return eligible;
            }
        }

        return any;
    }

    /// <summary>Queues work for <see cref="RunDeferred"/>; under the lock.</summary>
    private void Defer(DeferredWork work) => (_deferred ??= []).Add(work);

    /// <summary>
    /// Does what the lock deferred: starts acquisitions, gives permits back, cancels acquisitions. Every path that may
    /// have deferred work calls it after it released the lock; one with nothing to do returns at once.
    /// </summary>
    private void RunDeferred()
    {
        // A racy read is enough: whoever deferred work runs this after its own lock, and sees it.
        if (Volatile.Read(ref _deferred) is null)
        {
            return;
        }

        while (true)
        {
            List<DeferredWork>? work;
            lock (_lock)
            {
                work = _deferred;
                _deferred = null;
            }

            if (work is null)
            {
                return;
            }

            foreach (var item in work)
            {
                if (item.Start is { } gate)
                {
                    StartAcquisition(gate);
                }

                Quietly(item.Dispose, item.Cancel);
            }
        }
    }

    /// <summary>Gives a permit back or cancels an acquisition: a limiter that throws there must not fail whoever released a slot.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "As the summary says: the permit is the limiter's to lose.")]
    private static void Quietly(RateLimitLease? permit, CancellationTokenSource? cancellation)
    {
        try
        {
            permit?.Dispose();
            cancellation?.Cancel();
        }
        catch (Exception)
        {
            // The limiter's own failure; the request that gave the permit back is done either way.
        }
    }

    /// <summary>
    /// Asks <paramref name="gate"/>'s limiter for a permit: without waiting first (a local limiter with one at hand
    /// grants it now, and the request may be admitted before its admission call returns), then waiting, in the background.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "What a limiter throws refuses the waiter it was asked for.")]
    private void StartAcquisition(PermitGate gate)
    {
        RateLimitLease lease;
        try
        {
            lease = gate.Limiter.AttemptAcquire(1);
        }
        catch (Exception ex)
        {
            OnPermit(gate, null, ex, null);
            return;
        }

        if (lease.IsAcquired)
        {
            OnPermit(gate, lease, null, null);
            return;
        }

        lease.Dispose();
        CancellationTokenSource cancellation;
        lock (_lock)
        {
            if (_closed)
            {
                gate.Pending = false;
                return;
            }

            cancellation = new CancellationTokenSource();
            gate.Cancellation = cancellation;
        }

        _ = AcquireInBackgroundAsync(gate, cancellation);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "What a limiter throws refuses the waiter it was asked for.")]
    private async Task AcquireInBackgroundAsync(PermitGate gate, CancellationTokenSource cancellation)
    {
        RateLimitLease? lease = null;
        Exception? error = null;
        try
        {
            lease = await gate.Limiter.AcquireAsync(1, cancellation.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            error = ex;
        }

        OnPermit(gate, lease, error, cancellation);
        RunDeferred();
    }

    /// <summary>
    /// A limiter answered: its permit goes to the best waiter that needs it (or back, when none does), or its refusal
    /// fails that waiter; then the dispatch runs again, and may ask the limiter for the next permit.
    /// </summary>
    private void OnPermit(PermitGate gate, RateLimitLease? lease, Exception? error, CancellationTokenSource? cancellation)
    {
        Waiter? refused = null;
        lock (_lock)
        {
            gate.Pending = false;
            gate.Cancellation = null;
            if (lease is { IsAcquired: true })
            {
                if (_closed || !HandOver(gate, lease))
                {
                    Defer(new DeferredWork(null, lease, null));
                }
            }
            else if (!_closed && cancellation?.IsCancellationRequested != true && BestNeeding(gate) is { } waiter)
            {
                // Refused (or the limiter failed): the waiter the permit was for fails; the others are asked for in turn.
                refused = waiter;
                Unlink(waiter);
                Dropped(waiter);
            }

            if (!_closed)
            {
                Dispatch();
            }

            AssertInvariants();
        }

        if (refused is not null)
        {
            var session = refused.Share.Member.SessionName;
            _telemetry.Metrics.PermitRejections.Add(1, new KeyValuePair<string, object?>(ClientMetrics.SessionTag, session), new KeyValuePair<string, object?>(ClientMetrics.ConnectorTag, Name));
            refused.Fail(Refusal(session, lease, error));
        }

        if (lease is { IsAcquired: false })
        {
            Quietly(lease, null);
        }
    }

    private static RateLimitRejectedException Refusal(string sessionName, RateLimitLease? lease, Exception? error)
    {
        string? reason = null;
        TimeSpan? retryAfter = null;
        if (lease is not null)
        {
            if (lease.TryGetMetadata(MetadataName.ReasonPhrase, out var phrase))
            {
                reason = phrase;
            }

            if (lease.TryGetMetadata(MetadataName.RetryAfter, out var after))
            {
                retryAfter = after;
            }
        }

        return new RateLimitRejectedException(sessionName, reason ?? error?.Message, retryAfter, error);
    }

    /// <summary>Pauses <paramref name="key"/>'s admission; false when a pause as long or longer is in force.</summary>
    private bool Pause(HostKey key, TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return false;
        }

        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            var now = Time.GetTimestamp();
            var until = now + (long)Math.Min(duration.TotalSeconds * Time.TimestampFrequency, long.MaxValue / 4);
            var host = GetOrAddHost(key);
            if (until <= host.PausedUntil)
            {
                return false;
            }

            host.PausedUntil = until;
            ArmPauseTimer(now);
            AssertInvariants();
        }

        return true;
    }

    /// <summary>Arms the timer for the earliest end of a pause; under the lock.</summary>
    private void ArmPauseTimer(long now)
    {
        var next = long.MaxValue;
        foreach (var host in _hosts.Values)
        {
            if (host.PausedUntil != 0)
            {
                next = Math.Min(next, host.PausedUntil);
            }
        }

        if (next == long.MaxValue)
        {
            // The timer fired (it is one-shot) and ended the last pause: it stays off.
            return;
        }

        var due = TimeSpan.FromSeconds(Math.Max(next - now, 0) / (double)Time.TimestampFrequency);
        due = due < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : due;
        _pauseTimer ??= Time.CreateTimer(static s => ((Connector)s!).EndPauses(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _pauseTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The pause timer fired: hosts whose pause is over admit again, in the queue's order.</summary>
    private void EndPauses()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            var now = Time.GetTimestamp();
            foreach (var host in _hosts.Values)
            {
                if (host.PausedUntil != 0 && host.PausedUntil <= now)
                {
                    host.PausedUntil = 0;
                }
            }

            ArmPauseTimer(now);
            Dispatch();
            AssertInvariants();
        }

        RunDeferred();
    }

    /// <summary>The connector closes: acquisitions in flight are cancelled and the pause timer stops; under the lock.</summary>
    private void StopPermitsAndPauses()
    {
        foreach (var gate in _gates.Values)
        {
            if (gate.Cancellation is { } cancellation)
            {
                gate.Cancellation = null;
                Defer(new DeferredWork(null, null, cancellation));
            }
        }

        _pauseTimer?.Dispose();
    }

    /// <summary>How many waiters could take a slot but for a permit (of <paramref name="member"/>'s session, or of any).</summary>
    private int WaitingForPermit(ConnectorMember? member)
    {
        var count = 0;
        foreach (var level in _levels)
        {
            foreach (var share in level.Waiting)
            {
                if ((member is null || ReferenceEquals(share.Member, member)) && share.Gates.Length > 0 && IsEligible(share) && !HoldsPermits(share.Head!))
                {
                    count += share.WaiterCount;
                }
            }
        }

        return count;
    }

    /// <summary>A head that could take a slot but lacks a permit has its limiters asked for one: otherwise it would wait for nothing.</summary>
    [Conditional("DEBUG")]
    private static void AssertPermitsAsked(HostShare share)
    {
        var head = share.Head!;
        for (var i = 0; i < share.Gates.Length; i++)
        {
            Debug.Assert(
                head.Permits?[i] is not null || share.Gates[i].Pending,
                $"A waiter of session '{share.Member.SessionName}' for {share.Host.Key} lacks a permit that no one asked its limiter for.");
        }
    }
}
