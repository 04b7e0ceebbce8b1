namespace AsyncHttp.Internal;

/// <summary>
/// The life of one session request from the call to its release: the cancellation every stage observes, the
/// deadlines of <see cref="ClientTimeout"/> behind one timer, and the translation of failures into typed errors.
/// </summary>
/// <remarks>
/// One timer serves all deadlines: it is set to the earliest one and, when it fires, finds which expired. A deadline
/// moved later (a read that completed) is not chased; the timer fires early, finds nothing expired and re-arms.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2213:Disposable fields should be disposed", Justification = "A plain source holds nothing to free; not disposing it makes a late timer fire harmless.")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "As above.")]
internal sealed class RequestContext : DeadlineNode
{
    public static readonly HttpRequestOptionsKey<RequestContext> OptionsKey = new("AsyncHttp.RequestContext");

    private const int NotFired = 0;
    private const int CallerFired = 1;
    private const int AbortFired = CallerFired + 5;
    private const long Never = long.MaxValue;

    // The source doubles as the gate of the deadlines and the timer, one object fewer per request: it is private and
    // only its token leaves this class, so nothing else locks on it.
    private readonly CancellationTokenSource _cts = new();
    private readonly CancellationToken _callerToken;
    private CancellationTokenRegistration _callerRegistration;
    private ITimer? _timer;
    private long _totalDeadline = Never;
    private long _connectDeadline = Never;
    private long _connectBudgetEnd = Never;
    private long _sockReadDeadline = Never;
    private long _armedAt = Never;
    private HttpResponseMessage? _response;
    private int _fired;
    private int _completed;

    // Set at the start when Connect or SockRead is set: only then do the request's deadlines move while it runs and
    // need a timer of its own (which then keeps Total too). Read once: a caller may change its ClientTimeout later.
    private bool _ownTimer;

    public RequestContext(ClientSession session, ClientTimeout timeout, CancellationToken callerToken)
    {
        Session = session;
        Timeout = timeout;
        _callerToken = callerToken;
    }

    public ClientSession Session { get; }

    /// <summary>The context a request carries, if the session sent it.</summary>
    public static RequestContext? Of(HttpRequestMessage request)
    {
        if (request is ContextRequestMessage { Context: { } own })
        {
            return own;
        }

        return request.Options.TryGetValue(OptionsKey, out var context) ? context : null;
    }

    /// <summary>Makes this the context of <paramref name="request"/>, for the stages below the session.</summary>
    public void AttachTo(HttpRequestMessage request)
    {
        if (request is ContextRequestMessage own)
        {
            own.Context = this;
        }
        else
        {
            request.Options.Set(OptionsKey, this);
        }
    }

    /// <summary>The pipeline generation the request runs on; released when the request completes.</summary>
    public PipelineGeneration? Generation { get; init; }

    public HttpMethod? Method { get; init; }

    public Uri? Url { get; init; }

    /// <summary>The final status, once the headers are in (for the request-duration metric).</summary>
    public int? StatusCode { get; set; }

    /// <summary>The error the request ended with, if it failed (the metric's <c>error.type</c>).</summary>
    public string? ErrorType { get; set; }

    /// <summary>True once the transport made a new connection for this request (otherwise it reused one).</summary>
    public bool CreatedConnection { get; set; }

    public ClientTimeout Timeout { get; }

    /// <summary>Cancelled by the caller's token, by a timeout, or when the request is abandoned.</summary>
    public CancellationToken Token => _cts.Token;

    public long StartTimestamp { get; private set; }

    /// <summary>The timeout that fired, if one did.</summary>
    public TimeoutKind? FiredTimeout => _fired is > CallerFired and < AbortFired ? (TimeoutKind)(_fired - 2) : null;

    /// <summary>
    /// True when <see cref="ClientTimeout.Total"/> is the request's only timeout: the session keeps its deadline behind
    /// the session's one timer, and the request has no timer of its own.
    /// </summary>
    public bool SharesTotal { get; private set; }

    /// <summary>Starts the deadlines, counted from <paramref name="started"/> (which may lie in the past: the queue).</summary>
    public void Start(long started)
    {
        StartTimestamp = started;
        _ownTimer = Timeout.Connect is not null || Timeout.SockRead is not null;
        if (_ownTimer)
        {
            lock (_cts)
            {
                _totalDeadline = After(started, Timeout.Total);
                _connectDeadline = After(started, Timeout.Connect);
                Rearm(Session.Time.GetTimestamp());
            }
        }
        else
        {
            // Total alone needs no timer of the request's own: a request costs one timer less, the common case.
            SharesTotal = Timeout.Total is not null;
        }

        if (_callerToken.CanBeCanceled)
        {
            _callerRegistration = _callerToken.UnsafeRegister(static s => ((RequestContext)s!).Cancel(), this);
        }
    }

    /// <summary>A slot was taken: the queue part of <see cref="ClientTimeout.Connect"/> is over; the wait for headers starts.</summary>
    public void Admitted()
    {
        if (!_ownTimer)
        {
            return;
        }

        var now = Session.Time.GetTimestamp();
        lock (_cts)
        {
            // What is left of Connect now bounds a new connection, which the transport's connect callback enforces.
            _connectBudgetEnd = _connectDeadline;
            _connectDeadline = Never;
            _sockReadDeadline = After(now, Timeout.SockRead);
            Rearm(now);
        }
    }

    /// <summary>What remains of <see cref="ClientTimeout.Connect"/> for establishing a connection, if it is set.</summary>
    public TimeSpan? RemainingConnect
    {
        get
        {
            var end = Volatile.Read(ref _connectBudgetEnd);
            return end == Never ? null : Session.Time.GetElapsedTime(Session.Time.GetTimestamp(), end) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>A new connection is being made for this request: connect time is not read time.</summary>
    public void ConnectStarted() => SetSockRead(null);

    /// <summary>The new connection is up: the wait for the response headers starts now.</summary>
    public void ConnectEnded() => SetSockRead(Timeout.SockRead);

    public void HeadersReceived() => SetSockRead(null);

    /// <summary>A body read begins: <see cref="ClientTimeout.SockRead"/> bounds the wait for its data.</summary>
    public void BeginRead() => SetSockRead(Timeout.SockRead);

    public void EndRead()
    {
        if (Timeout.SockRead is not null)
        {
            Volatile.Write(ref _sockReadDeadline, Never);
        }
    }

    /// <summary>The slot of the response handed to the caller; its release ends the request.</summary>
    public SlotLease? FinalLease { get; set; }

    /// <summary>Intrusive links of the session's list of live requests (guarded by the session).</summary>
    public RequestContext? Next;

    public RequestContext? Prev;

    /// <summary>The response of the request, once its headers are in; the session disposes it when it closes.</summary>
    public HttpResponseMessage? Response
    {
        get => Volatile.Read(ref _response);
        set
        {
            Volatile.Write(ref _response, value);

            // Pairs with the fence in Abort: either Abort sees this response, or IsAborted is seen true after it.
            Interlocked.MemoryBarrier();
        }
    }

    /// <summary>True once the session aborted the request (it closed with the request in flight).</summary>
    public bool IsAborted => Volatile.Read(ref _fired) == AbortFired;

    public void OnLeaseReleased(SlotLease lease)
    {
        if (ReferenceEquals(lease, FinalLease))
        {
            Complete();
        }
    }

    /// <summary>Ends the request's timers; idempotent.</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        _callerRegistration.Unregister();
        if (_ownTimer)
        {
            lock (_cts)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }

        Session.Telemetry.RequestCompleted(this);
        Session.Untrack(this);
    }

    /// <summary>Aborts the request because its session closes: cancels it and closes its response.</summary>
    public void Abort()
    {
        _ = Fire(AbortFired);
        try
        {
            Response?.Dispose();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The connection is going away anyway.
        }

        // A response read through its lease (no middlewares) holds the slot outside its content.
        FinalLease?.Release();

        Complete();
    }

    /// <summary>Cancels the request as the caller would; used when its response is abandoned.</summary>
    public void Cancel() => _ = Fire(CallerFired);

    /// <summary>
    /// Translates a failure of this request into what the caller should see: <see cref="OperationCanceledException"/>
    /// for its own token, a <see cref="ClientTimeoutException"/> for a timeout, otherwise a <see cref="ClientException"/>.
    /// </summary>
    public Exception Translate(Exception exception, bool inBody = false, CancellationToken readToken = default)
    {
        var translated = TranslateCore(exception, inBody, readToken);
        ErrorType ??= translated.GetType().FullName;
        return translated;
    }

    private Exception TranslateCore(Exception exception, bool inBody, CancellationToken readToken)
    {
        if (_fired == CallerFired || _callerToken.IsCancellationRequested || readToken.IsCancellationRequested)
        {
            var token = readToken.IsCancellationRequested ? readToken : _callerToken;
            return exception is OperationCanceledException oce && oce.CancellationToken == token
                ? oce
                : new OperationCanceledException("The request was cancelled.", exception, token);
        }

        if (FiredTimeout is { } kind)
        {
            return CreateTimeoutException(kind, exception);
        }

        return (_fired == AbortFired || Session.IsClosed) && exception is not ClientException
            && exception is not ObjectDisposedException { ObjectName: nameof(ClientSession) }
            ? new SessionClosedException(Session.Name, exception)
            : ExceptionTranslation.Translate(exception, inBody);
    }

    private ClientTimeoutException CreateTimeoutException(TimeoutKind kind, Exception inner) => kind switch
    {
        TimeoutKind.Total => new TotalTimeoutException(Timeout.Total!.Value, inner),
        TimeoutKind.Connect => new ConnectTimeoutException(Timeout.Connect!.Value, inner),
        TimeoutKind.SockConnect => new SocketConnectTimeoutException(Timeout.SockConnect!.Value, inner),
        _ => new SocketReadTimeoutException(Timeout.SockRead!.Value, inner),
    };

    private void SetSockRead(TimeSpan? timeout)
    {
        if (Timeout.SockRead is null)
        {
            return;
        }

        var now = Session.Time.GetTimestamp();
        lock (_cts)
        {
            _sockReadDeadline = After(now, timeout);
            Rearm(now);
        }
    }

    private bool Fire(int reason)
    {
        if (Interlocked.CompareExchange(ref _fired, reason, NotFired) != NotFired)
        {
            return false;
        }

        // The source is never disposed (it has no timer or links), so a late fire is harmless.
        _cts.Cancel();
        return true;
    }

    private void OnTimer()
    {
        TimeoutKind? expired = null;
        lock (_cts)
        {
            if (_completed != 0)
            {
                return;
            }

            var now = Session.Time.GetTimestamp();
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
            Expired(kind);
        }
    }

    /// <summary>A timeout fired: the request is cancelled, and the timeout counted and logged.</summary>
    public void Expired(TimeoutKind kind)
    {
        if (Volatile.Read(ref _completed) == 0 && Fire((int)kind + 2))
        {
            ErrorType ??= kind switch
            {
                TimeoutKind.Total => typeof(TotalTimeoutException).FullName,
                TimeoutKind.Connect => typeof(ConnectTimeoutException).FullName,
                _ => typeof(SocketReadTimeoutException).FullName,
            };
            var value = kind switch
            {
                TimeoutKind.Total => Timeout.Total,
                TimeoutKind.Connect => Timeout.Connect,
                _ => Timeout.SockRead,
            };
            Session.Telemetry.TimeoutFired(kind, value ?? TimeSpan.Zero, Method, Url);
        }
    }

    /// <summary>Points the timer at the earliest deadline. Runs under the gate.</summary>
    private void Rearm(long now)
    {
        if (_completed != 0)
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
        var due = next == Never ? System.Threading.Timeout.InfiniteTimeSpan : DeadlineLanes.ClampDue(Session.Time.GetElapsedTime(now, next));
        if (_timer is null)
        {
            _timer = Session.Time.CreateTimer(static s => ((RequestContext)s!).OnTimer(), this, due, System.Threading.Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(due, System.Threading.Timeout.InfiniteTimeSpan);
        }
    }

    private long After(long now, TimeSpan? span)
    {
        if (span is not { } value)
        {
            return Never;
        }

        var ticks = value.TotalSeconds * Session.Time.TimestampFrequency;
        return ticks >= Never - now ? Never : now + (long)ticks;
    }
}
