using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// One connection being established, from the transport's connect callback until the handler has the connection's
/// plaintext stream (after the TLS handshake): one cancellation for every stage of it, and its deadlines, on the
/// session's clock.
/// </summary>
/// <remarks>
/// <para>
/// The attempt ends when the handler gives it up (its own token: the pending-connection timeout, or a
/// <see cref="SocketsHttpHandler.ConnectTimeout"/>), when the request that started it is interrupted (a connect does not
/// outlive its request here, so an interrupted request leaves no connection behind), when the transport is disposed
/// (the session closes: nothing stays open after it), or when a deadline passes: what is left of the request's
/// <see cref="ClientTimeout.Connect"/> (reservation, DNS, TCP, TLS), and <see cref="ClientTimeout.SockConnect"/> from
/// the first address attempt to the end of the TLS handshake, as aiohttp's <c>sock_connect</c> wraps both.
/// </para>
/// <para>
/// SocketsHttpHandler performs TLS itself, after the callback has returned the socket's stream, under no timeout of its
/// own (its <see cref="SocketsHttpHandler.ConnectTimeout"/> is one value for every request, on the system clock). So the
/// attempt outlives the callback: once the socket is connected, whatever ends the attempt closes it
/// (<see cref="CountedNetworkStream.Abort"/>), which fails the handshake at once with the reason, and the handler hands
/// that failure to the request waiting for the connection. The handler keeps doing what it does well: SNI, ALPN for
/// the request's version, certificate validation and client certificates, and TLS to an origin through a proxy tunnel.
/// </para>
/// <para>
/// The handler's plaintext-stream filter, called once the connection is established, names only the request that
/// started it; so a request has one attempt at a time (a second, when the handler retries on a new connection while the
/// first is still being made, waits for the first to end), and the filter always finds the attempt it ends.
/// </para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "A plain source holds nothing to free; not disposing it makes a late cancel harmless.")]
internal sealed class ConnectAttempt
{
    private const long Never = long.MaxValue;

    // The attempt in progress for each request that started one, until the handler has its plaintext stream.
    private static readonly ConditionalWeakTable<HttpRequestMessage, ConnectAttempt> Pending = new();
    private static readonly Lock PendingGate = new();

    private readonly Lock _gate = new();

    // Never disposed: it has no timer or links of its own (those below are undone at the end), so a late cancel is harmless.
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private readonly RequestContext? _request;
    private readonly HttpRequestMessage _message;
    private readonly SessionTelemetry _telemetry;
    private readonly TimeSpan? _sockConnect;
    private readonly long _connectEnd;
    private readonly CancellationTokenRegistration _onHandler;
    private readonly CancellationTokenRegistration _onRequest;
    private readonly CancellationTokenRegistration _onClosing;
    private CancellationTokenRegistration _onCancel;
    private CountedNetworkStream? _connection;
    private ITimer? _timer;
    private long _sockConnectEnd = Never;
    private ClientTimeoutException? _expired;
    private bool _isOver;

    private ConnectAttempt(
        TimeProvider time,
        HttpRequestMessage message,
        RequestContext? request,
        TimeSpan? sockConnect,
        SessionTelemetry telemetry,
        CancellationToken handlerToken,
        CancellationToken closing)
    {
        _time = time;
        _message = message;
        _request = request;
        _sockConnect = sockConnect;
        _telemetry = telemetry;
        _connectEnd = request?.ConnectBudgetEnd ?? Never;
        _onHandler = handlerToken.UnsafeRegister(static s => ((ConnectAttempt)s!).Cancel(), this);
        _onClosing = closing.UnsafeRegister(static s => ((ConnectAttempt)s!).Cancel(), this);
        if (request is not null)
        {
            request.ConnectStarted();
            _onRequest = request.Token.UnsafeRegister(static s => ((ConnectAttempt)s!).Cancel(), this);
        }

        lock (_gate)
        {
            Arm(time.GetTimestamp());
        }
    }

    /// <summary>Ends every stage of the attempt: the wait for an earlier one, the reservation, DNS, the address attempts.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>The timeout that ended the attempt, if one did.</summary>
    public ClientTimeoutException? Expired => Volatile.Read(ref _expired);

    /// <summary>
    /// Starts the attempt to make a connection for <paramref name="message"/>, once an earlier attempt for it (if any)
    /// has ended; its deadlines run from now.
    /// </summary>
    /// <param name="time">The session's clock.</param>
    /// <param name="message">The request that started the connection (the handler's initial request).</param>
    /// <param name="request">Its context, if the session sent it: its Connect budget, its interruption.</param>
    /// <param name="sockConnect">The SockConnect that applies: the request's, or the transport's for a request without a context.</param>
    /// <param name="telemetry">Where a timeout is counted.</param>
    /// <param name="handlerToken">The handler's token for the connection.</param>
    /// <param name="closing">Cancelled when the transport is disposed.</param>
    public static async ValueTask<ConnectAttempt> StartAsync(
        TimeProvider time,
        HttpRequestMessage message,
        RequestContext? request,
        TimeSpan? sockConnect,
        SessionTelemetry telemetry,
        CancellationToken handlerToken,
        CancellationToken closing)
    {
        var attempt = new ConnectAttempt(time, message, request, sockConnect, telemetry, handlerToken, closing);
        try
        {
            while (true)
            {
                ConnectAttempt? earlier;
                lock (PendingGate)
                {
                    if (!Pending.TryGetValue(message, out earlier))
                    {
                        Pending.Add(message, attempt);
                        return attempt;
                    }
                }

                await earlier._ended.Task.WaitAsync(attempt.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (attempt.Expired is { } timeout)
        {
            attempt.End();
            throw timeout;
        }
        catch
        {
            attempt.End();
            throw;
        }
    }

    /// <summary>
    /// The handler's plaintext-stream filter, called once a connection is established: ends the attempt that made it
    /// (from now on nothing closes the connection on its behalf), and returns <paramref name="plaintext"/> unchanged, or
    /// fails when the attempt closed the connection first, after the handshake: the handler must not hand it to a request.
    /// </summary>
    /// <param name="request">The request the handler established the connection for.</param>
    /// <param name="plaintext">The connection's stream, after TLS when there is TLS.</param>
    /// <param name="multiplexed">True for an HTTP/2 connection: its streams are not told apart by the connection.</param>
    public static ValueTask<Stream> MarkEstablished(HttpRequestMessage request, Stream plaintext, bool multiplexed)
    {
        // Without TLS the plaintext stream is the connection's own; with it, the request's attempt in progress made it.
        var connection = plaintext as CountedNetworkStream;
        if (connection is null)
        {
            lock (PendingGate)
            {
                if (Pending.TryGetValue(request, out var attempt))
                {
                    connection = Volatile.Read(ref attempt._connection);
                }
            }
        }

        return connection?.Establish(multiplexed) is { } aborted ? ValueTask.FromException<Stream>(aborted) : ValueTask.FromResult(plaintext);
    }

    /// <summary>The first address attempt begins: SockConnect runs from here to the end of the TLS handshake.</summary>
    public void BeginAddressAttempts()
    {
        lock (_gate)
        {
            if (_sockConnect is { } span && !_isOver)
            {
                var now = _time.GetTimestamp();
                _sockConnectEnd = After(now, span);
                Arm(now);
            }
        }
    }

    /// <summary>
    /// The socket is connected and goes to the handler, which establishes the connection on it (TLS): from now on,
    /// whatever ends the attempt closes <paramref name="connection"/>, with the timeout as the reason when one ended it.
    /// </summary>
    public void Connected(CountedNetworkStream connection)
    {
        Volatile.Write(ref _connection, connection);
        connection.AttemptedBy(this);

        // An attempt already ended runs the callback at once, and the handler gets a closed stream.
        var registration = _cts.Token.UnsafeRegister(static (s, _) =>
        {
            var (attempt, stream) = ((ConnectAttempt, CountedNetworkStream))s!;
            stream.Abort(attempt.Expired);
        }, (this, connection));
        lock (_gate)
        {
            if (!_isOver)
            {
                _onCancel = registration;
                return;
            }
        }

        registration.Unregister();
    }

    /// <summary>
    /// The attempt is over: the connection is established, or it failed, or the handler let go of it. Its timer and
    /// links go, a later attempt for the same request may start, and the request's wait for the response may start.
    /// Idempotent.
    /// </summary>
    /// <summary>True when the request that started the connection ended (was interrupted) before it was established.</summary>
    public bool RequestGone => _request is { IsInterrupted: true };

    public void End()
    {
        lock (_gate)
        {
            if (_isOver)
            {
                return;
            }

            _isOver = true;
            _timer?.Dispose();
            _timer = null;
        }

        _onHandler.Unregister();
        _onRequest.Unregister();
        _onClosing.Unregister();
        _onCancel.Unregister();
        lock (PendingGate)
        {
            if (Pending.TryGetValue(_message, out var current) && ReferenceEquals(current, this))
            {
                Pending.Remove(_message);
            }
        }

        _ended.TrySetResult();
        _request?.ConnectEnded();
    }

    private void Cancel()
    {
        try
        {
            _cts.Cancel();
        }
        catch (AggregateException)
        {
            // A stream whose close threw: the attempt is over all the same.
        }
    }

    private void OnTimer()
    {
        ClientTimeoutException expired;
        lock (_gate)
        {
            if (_isOver || _expired is not null)
            {
                return;
            }

            var now = _time.GetTimestamp();
            if (now >= _connectEnd && _connectEnd <= _sockConnectEnd)
            {
                expired = new ConnectTimeoutException(_request!.Timeout.Connect ?? TimeSpan.Zero);
            }
            else if (now >= _sockConnectEnd)
            {
                expired = new SocketConnectTimeoutException(_sockConnect!.Value);
            }
            else
            {
                Arm(now);
                return;
            }

            Volatile.Write(ref _expired, expired);
        }

        _telemetry.TimeoutFired(expired.Kind, expired.Timeout, _message.Method, _message.RequestUri);
        Cancel();
    }

    /// <summary>Points the timer at the earlier deadline. Runs under the gate.</summary>
    private void Arm(long now)
    {
        var next = Math.Min(_connectEnd, _sockConnectEnd);
        if (next == Never)
        {
            return;
        }

        var due = DeadlineLanes.ClampDue(_time.GetElapsedTime(now, next));
        if (_timer is null)
        {
            _timer = _time.CreateTimer(static s => ((ConnectAttempt)s!).OnTimer(), this, due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private long After(long now, TimeSpan span)
    {
        var ticks = span.TotalSeconds * _time.TimestampFrequency;
        return ticks >= Never - now ? Never : now + (long)ticks;
    }
}
