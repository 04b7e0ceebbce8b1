namespace AsyncHttp.Internal;

/// <summary>
/// The deadlines of one request that move while it runs (<see cref="ClientTimeout.Connect"/> and
/// <see cref="ClientTimeout.SockRead"/>, with <see cref="ClientTimeout.Total"/> beside them), behind one timer. Made only
/// for a request that sets Connect or SockRead: one whose only timeout is Total shares the session's lanes instead.
/// </summary>
/// <remarks>
/// <para>
/// Connect starts afresh with each hop (<see cref="HopStarted"/>) and bounds its wait in the queue here; once the hop
/// holds a slot, what is left of it is the hop's budget for a new connection (<see cref="ConnectBudgetEnd"/>), which the
/// transport enforces over the reservation, DNS, the TCP connect and TLS. A hop served on a pooled connection spends
/// none of it.
/// </para>
/// <para>
/// SockRead bounds the wait for the response: it runs from the moment the hop holds a slot, except while a new
/// connection is being made for it and, for a request with content, until the content has been sent
/// (<see cref="RequestSent"/>); then each body read.
/// </para>
/// <para>
/// The timer is set to the earliest deadline and, when it fires, finds which expired. A deadline moved later (a read
/// that completed) is not chased: the timer fires early, finds nothing expired and is set again.
/// </para>
/// </remarks>
internal sealed class RequestTimer
{
    private const long Never = long.MaxValue;

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan? _connect;
    private readonly TimeSpan? _sockRead;
    private readonly ITimeoutTarget _target;
    private ITimer? _timer;
    private readonly long _totalDeadline;
    private long _connectDeadline = Never;
    private long _connectBudgetEnd = Never;
    private long _sockReadDeadline = Never;
    private long _armedAt = Never;
    private bool _stopped;

    // What holds the wait for the response back, guarded by the gate: a hop not yet admitted, a connection being made,
    // content not yet sent, or a response already in.
    private bool _admitted;
    private bool _connecting;
    private bool _uploads;
    private bool _uploading;
    private bool _answered;

    /// <param name="time">The clock.</param>
    /// <param name="timeout">The request's timeouts, read once here: a caller may change the object later.</param>
    /// <param name="target">Told when a deadline passes.</param>
    /// <param name="started">When the request started (which may lie in the past: the queue).</param>
    public RequestTimer(TimeProvider time, ClientTimeout timeout, ITimeoutTarget target, long started)
    {
        _time = time;
        _connect = timeout.Connect;
        _sockRead = timeout.SockRead;
        _target = target;
        _totalDeadline = After(started, timeout.Total);
        lock (_gate)
        {
            Rearm(time.GetTimestamp());
        }
    }

    /// <summary>
    /// When this hop's Connect budget for a new connection runs out (a timestamp of the clock); <see cref="long.MaxValue"/>
    /// when Connect is not set or the hop has no slot yet.
    /// </summary>
    public long ConnectBudgetEnd => Volatile.Read(ref _connectBudgetEnd);

    /// <summary>A hop begins at <paramref name="at"/>: Connect starts afresh and bounds its wait in the queue.</summary>
    public void HopStarted(long at)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _connectDeadline = After(at, _connect);
            Volatile.Write(ref _connectBudgetEnd, Never);
            _admitted = _connecting = _uploads = _uploading = _answered = false;
            UpdateResponseWait(now);
            Rearm(now);
        }
    }

    /// <summary>
    /// The hop holds a slot: the queue part of Connect is over, and what is left of it bounds a new connection (the
    /// transport's connect callback enforces it). The wait for the response starts, or, when
    /// <paramref name="uploads"/>, once the content has been sent.
    /// </summary>
    public void Admitted(bool uploads)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            Volatile.Write(ref _connectBudgetEnd, _connectDeadline);
            _connectDeadline = Never;
            _admitted = true;
            _uploads = _uploading = uploads;
            _answered = false;
            _sockReadDeadline = Never;
            UpdateResponseWait(now);
            Rearm(now);
        }
    }

    /// <summary>The hop is sent once more (its connection closed before any response): its content is sent again.</summary>
    public void Resending() => Update(Signal.Resending);

    /// <summary>A new connection is being made for this request: connect time is not read time.</summary>
    public void ConnectStarted() => Update(Signal.ConnectStarted);

    /// <summary>The new connection is up (or failed): the wait for the response may start.</summary>
    public void ConnectEnded() => Update(Signal.ConnectEnded);

    /// <summary>The request's content has been sent: the wait for the response starts.</summary>
    public void RequestSent() => Update(Signal.RequestSent);

    /// <summary>The response's headers are in: the wait for the response is over.</summary>
    public void HeadersReceived() => Update(Signal.HeadersReceived);

    /// <summary>A body read begins: SockRead bounds the wait for its data.</summary>
    public void BeginRead()
    {
        if (_sockRead is null)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _sockReadDeadline = After(now, _sockRead);
            Rearm(now);
        }
    }

    public void EndRead()
    {
        if (_sockRead is not null)
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

    /// <summary>Changes what holds the wait for the response back, and moves SockRead with it.</summary>
    private void Update(Signal signal)
    {
        if (_sockRead is null)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            switch (signal)
            {
                case Signal.Resending:
                    _uploading = _uploads;
                    break;
                case Signal.ConnectStarted:
                    _connecting = true;
                    break;
                case Signal.ConnectEnded:
                    _connecting = false;
                    break;
                case Signal.RequestSent:
                    _uploading = false;
                    break;
                default:
                    _answered = true;
                    _sockReadDeadline = Never;
                    return;
            }

            UpdateResponseWait(now);
            Rearm(now);
        }
    }

    /// <summary>
    /// SockRead's wait for the response: running (from when it last started) while nothing holds it back. Runs under
    /// the gate.
    /// </summary>
    private void UpdateResponseWait(long now)
    {
        // A late signal (a connection the hop did not use coming up after its response) leaves the body's reads alone.
        if (_answered)
        {
            return;
        }

        var waiting = _admitted && !_connecting && !_uploading;
        if (!waiting)
        {
            _sockReadDeadline = Never;
        }
        else if (_sockReadDeadline == Never)
        {
            _sockReadDeadline = After(now, _sockRead);
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

    /// <summary>What a request tells its timer as it goes; each moves the wait for the response.</summary>
    private enum Signal
    {
        Resending,
        ConnectStarted,
        ConnectEnded,
        RequestSent,
        HeadersReceived,
    }
}
