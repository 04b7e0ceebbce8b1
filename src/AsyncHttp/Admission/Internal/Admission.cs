using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// The one way a request hop is admitted, whoever sends it: take a slot (at once, or after a wait in the queue), send
/// the hop on it, and hand the slot to the response, or give it back when the send fails. A session without
/// middlewares calls it for each hop; with middlewares, <see cref="AdmissionHandler"/>, the innermost handler, does.
/// </summary>
internal sealed class Admission
{
    private readonly ConnectorMember _member;
    private readonly long? _maxDecompressedSize;
    private readonly SessionTelemetry _telemetry;
    private readonly TimeProvider _time;

    /// <param name="member">The session on its connector, whose slots hops take; a slot's lease carries the transport its hop is sent through.</param>
    /// <param name="maxDecompressedSize">Decode compressed bodies up to this size; null leaves them encoded.</param>
    /// <param name="telemetry">Where queue waits, rejections and connection reuse are reported.</param>
    /// <param name="time">The clock that times queue waits.</param>
    public Admission(ConnectorMember member, long? maxDecompressedSize, SessionTelemetry telemetry, TimeProvider time)
    {
        _member = member;
        _maxDecompressedSize = maxDecompressedSize;
        _telemetry = telemetry;
        _time = time;
    }

    /// <summary>
    /// Takes a slot for <paramref name="request"/>'s host: at once when one is free and no one waits before it,
    /// otherwise after a wait in the queue, which is traced, timed and given a span when someone listens.
    /// </summary>
    /// <param name="request">The hop to admit.</param>
    /// <param name="cancellationToken">Takes the hop out of the queue.</param>
    /// <param name="deadline">When the wait gives up (<see cref="Deadline.InQueue"/>); none when the token carries the timeouts.</param>
    /// <exception cref="QueueFullException">The queue is full; counted and logged.</exception>
    public ValueTask<Connector.SlotLease> AcquireAsync(HttpRequestMessage request, CancellationToken cancellationToken, Deadline? deadline = null)
    {
        // Through a proxy, the proxy is part of the host's key: the host's connections are the proxy's (or its tunnels).
        var url = request.RequestUri!;
        var key = HostKey.From(url, _member.Connector.ProxyFor(url));
        ValueTask<Connector.SlotLease> acquire;
        try
        {
            acquire = _member.Connector.AcquireAsync(_member, key, cancellationToken, deadline);
        }
        catch (QueueFullException)
        {
            _telemetry.QueueRejected(request.Method, request.RequestUri!);
            throw;
        }

        // Unobserved, a queued hop costs its waiter and nothing more: the wait is awaited by the caller directly.
        return acquire.IsCompleted || !_telemetry.ObservesQueue ? acquire : WaitInQueueAsync(acquire, key, request);
    }

    /// <summary>
    /// Sends a hop that holds <paramref name="lease"/>, and ties the slot to the response's body. When the server
    /// closed the connection before answering (typically a kept-alive connection it had just dropped), an idempotent
    /// hop is sent once more, on a fresh connection, with the same slot. When the send fails, the slot goes back.
    /// </summary>
    /// <param name="lease">The hop's slot; from here on this method or the response owns it.</param>
    /// <param name="request">The hop.</param>
    /// <param name="context">The request the hop belongs to, if the session sent it.</param>
    /// <param name="wrap">
    /// Replace the response's content with one whose stream and disposal give the slot back, for any reader (a
    /// middleware's); otherwise only the lease knows the slot, and the session reads the body through it.
    /// </param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <remarks>
    /// Its callers await it at once: its state machine comes from a pool rather than an allocation per hop (a queued
    /// request does not have one yet).
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<HttpResponseMessage> SendAsync(Connector.SlotLease lease, HttpRequestMessage request, RequestContext? context, bool wrap, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        CountedNetworkStream? sentOn;
        try
        {
            context?.Holds(lease);
            if (context is null)
            {
                // A message no session request prepared (a middleware's own): the connector's version, unless it asks for its own.
                ApplyVersion(request, null, _member.Connector.TransportSettings);
            }

            // With SockRead set, the wait for the response starts once the content has been sent: the transport sends
            // a stand-in that says when, and the request gets its own content back afterwards. A request without
            // content (or without SockRead) is sent as it is.
            var uploads = request.Content is not null && context is { Timeout.SockRead: not null };
            context?.Admitted(uploads);
            if (uploads)
            {
                request.Content = new UploadContent(request.Content!, context!);
            }

            var connection = ConnectionCapture.Begin(lease);
            try
            {
                response = await lease.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (IsRetryable(request, ex, cancellationToken))
            {
                context?.Resending();
                response = await lease.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }

            sentOn = connection.End();
            Framing.Check(response, sentOn);
        }
        catch
        {
            if (context is null)
            {
                lease.Release();
            }
            else
            {
                context.ReleaseFailed(lease);
            }

            throw;
        }
        finally
        {
            // Found again rather than kept: nothing more is kept across the send.
            if (request.Content is UploadContent sent)
            {
                request.Content = sent.Inner;
            }
        }

        if (sentOn is not null && response.Version.Major == 1)
        {
            // An HTTP/1.x connection carries this response alone: once it is read, the connection is idle in the pool.
            lease.SentOn(sentOn);
        }

        return Carry(lease, request, response, context, wrap);
    }

    /// <summary>
    /// Sets the HTTP version <paramref name="request"/> asks for: <paramref name="options"/>' own, else the message's own
    /// when it is not at <see cref="HttpRequestMessage"/>'s defaults (1.1, or lower), else the connector's.
    /// </summary>
    public static void ApplyVersion(HttpRequestMessage request, RequestOptions? options, TransportSettings connector)
    {
        var own = !TransportSettings.HasDefaultVersion(request);
        request.Version = options?.Version ?? (own ? request.Version : connector.Version);
        request.VersionPolicy = options?.VersionPolicy ?? (own ? request.VersionPolicy : connector.VersionPolicy);
    }

    /// <summary>
    /// The server closed the connection before answering: true for an idempotent request (RFC 9110 §9.2.2) with a body
    /// that the caller still wants, which may then be sent once more. A request without a body is not: the transport
    /// retries those itself, up to three times, and one more round here would send it eight times to a server that
    /// always closes.
    /// </summary>
    public static bool IsRetryable(HttpRequestMessage request, HttpRequestException exception, CancellationToken cancellationToken)
        => request.Content is not null && IsIdempotent(request.Method) && IsClosedBeforeResponse(exception) && !cancellationToken.IsCancellationRequested;

    /// <summary>
    /// The response now carries the slot: the lease holds its body, a response without a body gives the slot back at
    /// once (its connection is back in the pool already), and a body to decode, or any body a middleware will see, is
    /// wrapped so that its readers give the slot back. When a trace callback throws, the slot goes back first.
    /// </summary>
    private HttpResponseMessage Carry(Connector.SlotLease lease, HttpRequestMessage request, HttpResponseMessage response, RequestContext? context, bool wrap)
    {
        lease.Carry(response.Content);
        try
        {
            if (context is { CreatedConnection: false })
            {
                _telemetry.Trace(TraceEventKind.ConnectionReuse, request.Method, request.RequestUri, lease.Key.Host);
            }

            if (context is { Options.RetryAfter: true } && RetryAfterOf(response, context.Options.MaxRetryAfter) is { } pause)
            {
                _member.Connector.PauseFromResponse(lease.Key, pause, _member.SessionName);
            }
        }
        catch
        {
            // The lease carries the response's content: its release disposes it, and that is all the response holds.
            lease.Release();
            throw;
        }

        var bodiless = BodyRules.HasNoBody(request.Method, response);
        var encoding = bodiless ? null : ReleasingContent.DecodedEncoding(response.Content, _maxDecompressedSize);
        if (wrap || encoding is not null)
        {
            response.Content = new ReleasingContent(lease, context, encoding, _maxDecompressedSize ?? 0, bodiless);
        }

        if (bodiless)
        {
            lease.Release();
        }

        return response;
    }

    /// <summary>The observed slow path: the wait is traced, timed and given a span.</summary>
    private async ValueTask<Connector.SlotLease> WaitInQueueAsync(ValueTask<Connector.SlotLease> acquire, HostKey key, HttpRequestMessage request)
    {
        var queuedAt = _time.GetTimestamp();
        using var span = _telemetry.QueueEntered(key, request.Method, request.RequestUri!, out var deferred);
        var lease = await acquire.ConfigureAwait(false);
        try
        {
            span?.SetTag("asynchttp.permits", lease.Permits);
            _telemetry.QueueLeft(deferred, queuedAt, key, _member.Caps.Priority, request.Method, request.RequestUri!, _time);
        }
        catch
        {
            lease.Release();
            throw;
        }

        return lease;
    }

    /// <summary>
    /// How long a <c>429</c> or <c>503</c> asks the client to wait (RFC 9110 §10.2.3), at most <paramref name="max"/>: a
    /// delay, or a date counted from the response's own <c>Date</c> (the server's clock on both sides), else from now.
    /// </summary>
    private TimeSpan? RetryAfterOf(HttpResponseMessage response, TimeSpan max)
    {
        if (response.StatusCode is not (System.Net.HttpStatusCode.TooManyRequests or System.Net.HttpStatusCode.ServiceUnavailable)
            || response.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var delay = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - (response.Headers.Date ?? _time.GetUtcNow()) : null);
        return delay is { } value && value > TimeSpan.Zero ? (value < max ? value : max) : null;
    }

    private static bool IsIdempotent(HttpMethod method)
        => method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Put
        || method == HttpMethod.Delete || method == HttpMethod.Options || method == HttpMethod.Trace;

    private static bool IsClosedBeforeResponse(HttpRequestException exception)
        => exception.HttpRequestError == HttpRequestError.ResponseEnded || ExceptionTranslation.IsReset(exception);
}
