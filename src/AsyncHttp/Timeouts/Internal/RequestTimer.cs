namespace AsyncHttp.Internal;

/// <summary>
/// The deadlines of one request that move while it runs (<see cref="ClientTimeout.Connect"/> and
/// <see cref="ClientTimeout.SockRead"/>, with <see cref="ClientTimeout.Total"/> beside them), behind one timer. Made only
/// for a request that sets Connect or SockRead: one whose only timeout is Total shares the session's lanes instead.
/// </summary>
/// <remarks>
/// The timer is set to the earliest deadline and, when it fires, finds which expired. A deadline moved later (a read
/// that completed) is not chased: the timer fires early, finds nothing expired and is set again.
/// </remarks>
internal sealed class RequestTimer
{
    private const long Never = long.MaxValue;

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly ClientTimeout _timeout;
    private readonly ITimeoutTarget _target;
    private ITimer? _timer;
    private readonly long _totalDeadline;
    private long _connectDeadline;
    private long _connectBudgetEnd = Never;
    private long _sockReadDeadline = Never;
    private long _armedAt = Never;
    private bool _stopped;

    /// <param name="time">The clock.</param>
    /// <param name="timeout">The request's timeouts, as they were when it started.</param>
    /// <param name="target">Told when a deadline passes.</param>
    /// <param name="started">When the request started (which may lie in the past: the queue).</param>
    public RequestTimer(TimeProvider time, ClientTimeout timeout, ITimeoutTarget target, long started)
    {
        _time = time;
        _timeout = timeout;
        _target = target;
        _totalDeadline = After(started, timeout.Total);
        lock (_gate)
        {
            _connectDeadline = After(started, timeout.Connect);
            Rearm(time.GetTimestamp());
        }
    }

    /// <summary>A slot was taken: the queue part of Connect is over; the wait for the response starts.</summary>
    public void Admitted()
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            // What is left of Connect now bounds a new connection, which the transport's connect callback enforces.
            _connectBudgetEnd = _connectDeadline;
            _connectDeadline = Never;
            _sockReadDeadline = After(now, _timeout.SockRead);
            Rearm(now);
        }
    }

    /// <summary>What remains of Connect for establishing a connection, if it is set.</summary>
    public TimeSpan? RemainingConnect
    {
        get
        {
            var end = Volatile.Read(ref _connectBudgetEnd);
            if (end == Never)
            {
                return null;
            }

            var left = _time.GetElapsedTime(_time.GetTimestamp(), end);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>A new connection is being made: connect time is not read time.</summary>
    public void ConnectStarted() => SetSockRead(null);

    /// <summary>The new connection is up: the wait for the response starts now.</summary>
    public void ConnectEnded() => SetSockRead(_timeout.SockRead);

    public void HeadersReceived() => SetSockRead(null);

    /// <summary>A body read begins: SockRead bounds the wait for its data.</summary>
    public void BeginRead() => SetSockRead(_timeout.SockRead);

    public void EndRead()
    {
        if (_timeout.SockRead is not null)
        {
            Volatile.Write(ref _sockReadDeadline, Never);
        }
    }

    /// <summary>Stops the timer for good; a late firing finds it stopped.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    private void SetSockRead(TimeSpan? timeout)
    {
        if (_timeout.SockRead is null)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _sockReadDeadline = After(now, timeout);
            Rearm(now);
        }
    }

    private void OnTimer()
    {
        TimeoutKind? expired = null;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            var now = _time.GetTimestamp();
            _armedAt = Never;
            if (now >= _totalDeadline)
            {
                expired = TimeoutKind.Total;
            }
            else if (now >= _connectDeadline)
            {
                expired = TimeoutKind.Connect;
            }
            else if (now >= Volatile.Read(ref _sockReadDeadline))
            {
                expired = TimeoutKind.SockRead;
            }
            else
            {
                Rearm(now);
            }
        }

        if (expired is { } kind)
        {
            _target.OnTimeout(kind);
        }
    }

    /// <summary>Points the timer at the earliest deadline. Runs under the gate.</summary>
    private void Rearm(long now)
    {
        if (_stopped)
        {
            return;
        }

        var next = Math.Min(_totalDeadline, Math.Min(_connectDeadline, _sockReadDeadline));
        if (next == _armedAt || (next == Never && _timer is null))
        {
            return;
        }

        // An earlier deadline needs the timer moved; a later one is caught when the timer fires early.
        if (next > _armedAt && _armedAt != Never)
        {
            return;
        }

        _armedAt = next;
        var due = next == Never ? Timeout.InfiniteTimeSpan : DeadlineLanes.ClampDue(_time.GetElapsedTime(now, next));
        if (_timer is null)
        {
            _timer = _time.CreateTimer(static s => ((RequestTimer)s!).OnTimer(), this, due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private long After(long now, TimeSpan? span)
    {
        if (span is not { } value)
        {
            return Never;
        }

        var ticks = value.TotalSeconds * _time.TimestampFrequency;
        return ticks >= Never - now ? Never : now + (long)ticks;
    }
}
