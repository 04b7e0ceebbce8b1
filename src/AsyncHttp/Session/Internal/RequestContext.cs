namespace AsyncHttp.Internal;

/// <summary>
/// The life of one session request from the call to its release: the settings it started with, the cancellation
/// every stage observes, its timeouts, what interrupted it, and the translation of failures into typed errors.
/// </summary>
/// <remarks>
/// A request whose only timeout is <see cref="ClientTimeout.Total"/> (the default) has no timer of its own: the
/// session keeps its deadline in shared lanes (it is a <see cref="DeadlineNode"/> for that). One that sets Connect or
/// SockRead gets a <see cref="RequestTimer"/>. Whatever interrupts the request (a timeout, the caller, the session's
/// close) cancels its token and gives back the slot of the response it handed out, so a response held but never read
/// does not keep its slot past <see cref="ClientTimeout.Total"/>.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2213:Disposable fields should be disposed", Justification = "A plain source holds nothing to free; not disposing it makes a late timer fire harmless.")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "As above.")]
internal sealed class RequestContext : DeadlineNode, ITimeoutTarget, ILeaseObserver
{
    public static readonly HttpRequestOptionsKey<RequestContext> OptionsKey = new("AsyncHttp.RequestContext");

    private readonly CancellationTokenSource _cts = new();
    private CancellationToken _callerToken;
    private CancellationTokenRegistration _callerRegistration;
    private RequestTimer? _timer;

    // The slot the request holds now: its hop in flight's, then its final response's.
    private Connector.SlotLease? _lease;
    private int _interruption;
    private int _cancelled;
    private int _completed;

    /// <param name="session">The session that sends the request.</param>
    /// <param name="options">The session's settings when the request started; the request keeps them to its end.</param>
    /// <param name="timeout">The request's timeouts (its own, or the session's).</param>
    /// <param name="callerToken">The caller's token: it cancels the request until the response is released.</param>
    public RequestContext(ClientSession session, ClientSessionOptions options, ClientTimeout timeout, CancellationToken callerToken)
    {
        Session = session;
        Options = options;
        Timeout = timeout;
        _callerToken = callerToken;
    }

    public ClientSession Session { get; }

    /// <summary>The session's settings as they were when the request started: a reload does not change them.</summary>
    public ClientSessionOptions Options { get; }

    public ClientTimeout Timeout { get; }

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

    /// <summary>Cancelled by the caller's token, by a timeout, or when the session closes.</summary>
    public CancellationToken Token => _cts.Token;

    public long StartTimestamp { get; private set; }

    /// <summary>What interrupted the request, if anything did.</summary>
    public Interruption Interruption => (Interruption)Volatile.Read(ref _interruption);

    public bool IsInterrupted => Volatile.Read(ref _interruption) != (int)Interruption.None;

    /// <summary>
    /// True when <see cref="ClientTimeout.Total"/> is the request's only timeout: the session keeps its deadline behind
    /// the session's one timer, and the request has no timer of its own.
    /// </summary>
    public bool SharesTotal { get; private set; }

    /// <summary>Intrusive links of the session's list of live requests (guarded by the session).</summary>
    public RequestContext? Next;

    public RequestContext? Prev;

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

    /// <summary>Starts the deadlines, counted from <paramref name="started"/> (which may lie in the past: the queue).</summary>
    public void Start(long started)
    {
        StartTimestamp = started;
        if (Timeout.Connect is not null || Timeout.SockRead is not null)
        {
            // Its deadlines move while it runs: a timer of its own, which keeps Total too. The ClientTimeout is read
            // once here: a caller may change the object later.
            _timer = new RequestTimer(Session.Time, Timeout, this, started);
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

    /// <summary>
    /// The caller's token stops applying to the request: a handler's caller gives a token for the send, up to the
    /// response headers, as for any <see cref="HttpMessageHandler"/>; the body is then bounded by the request's timeouts
    /// and by the tokens of its reads. A cancellation that came first still counts.
    /// </summary>
    public void DetachCaller()
    {
        // Dispose, not Unregister: a cancellation running now on another thread is waited for, so it is seen below.
        _callerRegistration.Dispose();
        if (Interruption != Interruption.Caller)
        {
            _callerToken = default;
        }
    }

    /// <summary>
    /// A hop begins: <see cref="ClientTimeout.Connect"/> starts afresh, counted from <paramref name="at"/> (a timestamp of
    /// the session's clock), and bounds its wait in the queue.
    /// </summary>
    public void HopStarted(long at) => _timer?.HopStarted(at);

    /// <summary>A hop begins now: see <see cref="HopStarted(long)"/>.</summary>
    public void HopStarted()
    {
        if (_timer is { } timer)
        {
            timer.HopStarted(Session.Time.GetTimestamp());
        }
    }

    /// <summary>
    /// The hop holds a slot: the queue part of <see cref="ClientTimeout.Connect"/> is over, and the wait for the response
    /// starts, or, when it <paramref name="uploads"/> content, once that has been sent (<see cref="RequestSent"/>).
    /// </summary>
    public void Admitted(bool uploads) => _timer?.Admitted(uploads);

    /// <summary>The hop is sent once more, on a new connection: its content is sent again first.</summary>
    public void Resending() => _timer?.Resending();

    /// <summary>
    /// When what is left of the hop's <see cref="ClientTimeout.Connect"/> runs out for establishing a new connection
    /// (a timestamp of the session's clock); <see cref="long.MaxValue"/> when Connect is not set.
    /// </summary>
    public long ConnectBudgetEnd => _timer?.ConnectBudgetEnd ?? long.MaxValue;

    /// <summary>A new connection is being made for this request: connect time is not read time.</summary>
    public void ConnectStarted() => _timer?.ConnectStarted();

    /// <summary>The new connection is up, after TLS (or its attempt ended): the wait for the response starts now.</summary>
    public void ConnectEnded() => _timer?.ConnectEnded();

    /// <summary>The request's content has been sent in full: <see cref="ClientTimeout.SockRead"/> starts.</summary>
    public void RequestSent() => _timer?.RequestSent();

    public void HeadersReceived() => _timer?.HeadersReceived();

    /// <summary>A body read begins: <see cref="ClientTimeout.SockRead"/> bounds the wait for its data.</summary>
    public void BeginRead() => _timer?.BeginRead();

    public void EndRead() => _timer?.EndRead();

    /// <summary>A hop of the request holds <paramref name="lease"/> from now on: an interruption gives it back.</summary>
    public void Holds(Connector.SlotLease lease)
    {
        Volatile.Write(ref _lease, lease);

        // Pairs with the fence in Interrupt: either Interrupt sees the lease, or the interruption is seen here.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _cancelled) != 0)
        {
            lease.Release();
        }
    }

    /// <summary>
    /// The send of the hop holding <paramref name="lease"/> failed: its slot goes back, but not before the transport
    /// has closed the connection. When the request was interrupted, the transport closes it in its cancellation
    /// callback, which may still be running on the interrupting thread while the send already fails here; then
    /// <see cref="Interrupt"/> gives the slot back once the cancellation has run, so a slot is never free while its
    /// connection is still open.
    /// </summary>
    public void ReleaseFailed(Connector.SlotLease lease)
    {
        if (!IsInterrupted || Volatile.Read(ref _cancelled) != 0 || !ReferenceEquals(lease, Volatile.Read(ref _lease)))
        {
            lease.Release();
        }
    }

    /// <summary>
    /// The response handed to the caller holds <paramref name="lease"/> (none for a response a middleware made): its
    /// release ends the request. An interruption that came first gives it back at once.
    /// </summary>
    public void Finish(Connector.SlotLease? lease)
    {
        if (lease is null)
        {
            return;
        }

        Holds(lease);
        lease.Observe(this);
    }

    void ILeaseObserver.OnReleased(Connector.SlotLease lease)
    {
        if (ReferenceEquals(lease, Volatile.Read(ref _lease)))
        {
            Complete();
        }
    }

    /// <summary>Ends the request's timers and takes it off the live list; idempotent.</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        _callerRegistration.Unregister();
        _timer?.Stop();
        Session.Telemetry.RequestCompleted(this);
        Session.Untrack(this);
    }

    /// <summary>
    /// Aborts the request because its session, or the shared connector it draws on, closes: cancels it and closes the
    /// response it handed out.
    /// </summary>
    public void Abort(Interruption reason = Interruption.SessionClosed)
    {
        Interrupt(reason);
        Complete();
    }

    /// <summary>The caller dropped the response without releasing it: its slot goes back and the request ends.</summary>
    public void Reclaim()
    {
        Volatile.Read(ref _lease)?.Release();
        Complete();
    }

    /// <summary>Cancels the request as the caller would; used when its caller's token or a read token is cancelled.</summary>
    public void Cancel() => Interrupt(Interruption.Caller);

    /// <summary>A timeout fired: the request is interrupted, and the timeout counted and logged.</summary>
    public void Expired(TimeoutKind kind)
    {
        if (Volatile.Read(ref _completed) == 0 && Interrupt(ToInterruption(kind)))
        {
            ErrorType ??= TimeoutExceptionType(kind).FullName;
            Session.Telemetry.TimeoutFired(kind, TimeoutValue(kind) ?? TimeSpan.Zero, Method, Url);
        }
    }

    void ITimeoutTarget.OnTimeout(TimeoutKind kind) => Expired(kind);

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
        var interruption = Interruption;
        if (interruption == Interruption.Caller || _callerToken.IsCancellationRequested || readToken.IsCancellationRequested)
        {
            var token = readToken.IsCancellationRequested ? readToken : _callerToken;
            return exception is OperationCanceledException oce && oce.CancellationToken == token
                ? oce
                : new OperationCanceledException("The request was cancelled.", exception, token);
        }

        if (ToTimeoutKind(interruption) is { } kind)
        {
            return CreateTimeoutException(kind, exception);
        }

        if (interruption == Interruption.ConnectorClosed && exception is not ClientException)
        {
            return new SessionClosedException(Session.Name, $"Connector '{Session.Connector.Name}' of session '{Session.Name}' was closed before the request completed.", exception);
        }

        return (interruption == Interruption.SessionClosed || Session.IsClosed) && exception is not ClientException
            && exception is not ObjectDisposedException { ObjectName: nameof(ClientSession) }
            ? new SessionClosedException(Session.Name, exception)
            : ExceptionTranslation.Translate(exception, inBody);
    }

    /// <summary>
    /// The first interruption wins: it cancels the request (the transport closes the connection of a hop in flight in
    /// its cancellation callback, which runs here), then gives back the slot the request holds, whether a hop in
    /// flight holds it or the response handed out.
    /// </summary>
    private bool Interrupt(Interruption reason)
    {
        if (Interlocked.CompareExchange(ref _interruption, (int)reason, (int)Interruption.None) != (int)Interruption.None)
        {
            return false;
        }

        // The source is never disposed (it has no timer or links), so a late cancellation is harmless.
        _cts.Cancel();
        Volatile.Write(ref _cancelled, 1);

        // Pairs with the fence in Holds.
        Interlocked.MemoryBarrier();
        Volatile.Read(ref _lease)?.Release();
        return true;
    }

    private ClientTimeoutException CreateTimeoutException(TimeoutKind kind, Exception inner) => kind switch
    {
        TimeoutKind.Total => new TotalTimeoutException(Timeout.Total!.Value, inner),
        TimeoutKind.Connect => new ConnectTimeoutException(Timeout.Connect!.Value, inner),
        TimeoutKind.SockConnect => new SocketConnectTimeoutException(Timeout.SockConnect!.Value, inner),
        TimeoutKind.SockRead => new SocketReadTimeoutException(Timeout.SockRead!.Value, inner),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private TimeSpan? TimeoutValue(TimeoutKind kind) => kind switch
    {
        TimeoutKind.Total => Timeout.Total,
        TimeoutKind.Connect => Timeout.Connect,
        TimeoutKind.SockConnect => Timeout.SockConnect,
        TimeoutKind.SockRead => Timeout.SockRead,
        _ => null,
    };

    private static Type TimeoutExceptionType(TimeoutKind kind) => kind switch
    {
        TimeoutKind.Total => typeof(TotalTimeoutException),
        TimeoutKind.Connect => typeof(ConnectTimeoutException),
        TimeoutKind.SockConnect => typeof(SocketConnectTimeoutException),
        _ => typeof(SocketReadTimeoutException),
    };

    private static Interruption ToInterruption(TimeoutKind kind) => kind switch
    {
        TimeoutKind.Total => Interruption.Total,
        TimeoutKind.Connect => Interruption.Connect,
        TimeoutKind.SockConnect => Interruption.SockConnect,
        TimeoutKind.SockRead => Interruption.SockRead,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static TimeoutKind? ToTimeoutKind(Interruption interruption) => interruption switch
    {
        Interruption.Total => TimeoutKind.Total,
        Interruption.Connect => TimeoutKind.Connect,
        Interruption.SockConnect => TimeoutKind.SockConnect,
        Interruption.SockRead => TimeoutKind.SockRead,
        _ => null,
    };
}
