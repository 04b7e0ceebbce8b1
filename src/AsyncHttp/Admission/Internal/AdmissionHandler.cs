namespace AsyncHttp.Internal;

/// <summary>
/// The admission stage of the pipeline, just above the transport: takes a slot of the connector for each hop and
/// ties its release to the response body (end of body, dispose) or to the failure of the send. A session without
/// middlewares admits its first hop itself, before it builds the request, and shares the rules below.
/// </summary>
internal sealed class AdmissionHandler : DelegatingHandler
{
    private readonly Connector _connector;
    private readonly long? _maxDecompressedSize;
    private readonly SessionTelemetry _telemetry;
    private readonly TimeProvider _time;

    /// <param name="connector">The connector whose slots requests take.</param>
    /// <param name="transport">The transport below.</param>
    /// <param name="maxDecompressedSize">Decode compressed bodies up to this size; null leaves them encoded.</param>
    /// <param name="telemetry">Where queue waits and reuse are reported.</param>
    /// <param name="time">The clock that times queue waits.</param>
    public AdmissionHandler(Connector connector, HttpMessageHandler transport, long? maxDecompressedSize, SessionTelemetry telemetry, TimeProvider time)
        : base(transport)
    {
        _connector = connector;
        _maxDecompressedSize = maxDecompressedSize;
        _telemetry = telemetry;
        _time = time;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var context = RequestContext.Of(request);
        var key = HostKey.From(request.RequestUri!);
        ValueTask<HostState> acquire;
        try
        {
            acquire = _connector.AcquireAsync(key, cancellationToken);
        }
        catch (QueueFullException)
        {
            _telemetry.QueueRejected(request.Method, request.RequestUri!);
            throw;
        }

        var host = acquire.IsCompletedSuccessfully ? acquire.Result : await WaitInQueueAsync(acquire, key, request).ConfigureAwait(false);
        HttpResponseMessage response;
        try
        {
            context?.Admitted();
            var connection = ConnectionCapture.Begin();
            try
            {
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (IsRetryable(request, ex, cancellationToken))
            {
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }

            Framing.Check(response, connection);
        }
        catch
        {
            _connector.Release(host);
            throw;
        }

        // From here the lease owns the slot, and gives it back if tying it to the response fails.
        Lease(request, response, host, context, wrap: true);
        return response;
    }

    /// <summary>
    /// Ties the slot to the response's body. With <paramref name="wrap"/>, or when the body is decoded, the response's
    /// content is replaced by one whose stream and disposal give the slot back, for any reader; otherwise only the
    /// returned lease knows the slot, and the session reads the body through it.
    /// </summary>
    /// <remarks>When a trace callback throws, the response is disposed and the slot given back before the exception goes on.</remarks>
    public SlotLease Lease(HttpRequestMessage request, HttpResponseMessage response, HostState host, RequestContext? context, bool wrap)
    {
        if (context is { CreatedConnection: false })
        {
            try
            {
                _telemetry.Trace(TraceEventKind.ConnectionReuse, request.Method, request.RequestUri, host.Key.Host);
            }
            catch
            {
                response.Dispose();
                _connector.Release(host);
                throw;
            }
        }

        var lease = new SlotLease(host, response.Content, context);
        var encoding = ReleasingContent.DecodedEncoding(response.Content, _maxDecompressedSize);
        if (wrap || encoding is not null)
        {
            response.Content = new ReleasingContent(lease, encoding, _maxDecompressedSize ?? 0);
        }

        return lease;
    }

    /// <summary>
    /// The server closed the connection before answering, typically a kept-alive connection it had just dropped: an
    /// idempotent request is sent once more, on a fresh connection, with the slot it holds.
    /// </summary>
    public static bool IsRetryable(HttpRequestMessage request, HttpRequestException exception, CancellationToken cancellationToken)
        => IsIdempotent(request.Method) && IsClosedBeforeResponse(exception) && !cancellationToken.IsCancellationRequested;

    /// <summary>The slow path: the request waits in the queue, which is traced, timed and given a span.</summary>
    private async ValueTask<HostState> WaitInQueueAsync(ValueTask<HostState> acquire, HostKey key, HttpRequestMessage request)
    {
        var queuedAt = _time.GetTimestamp();
        using var span = _telemetry.QueueEntered(key, request.Method, request.RequestUri!, out var deferred);
        var host = await acquire.ConfigureAwait(false);
        try
        {
            _telemetry.QueueLeft(deferred, queuedAt, key, request.Method, request.RequestUri!, _time);
        }
        catch
        {
            _connector.Release(host);
            throw;
        }

        return host;
    }

    private static bool IsIdempotent(HttpMethod method)
        => method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Put
        || method == HttpMethod.Delete || method == HttpMethod.Options || method == HttpMethod.Trace;

    private static bool IsClosedBeforeResponse(HttpRequestException exception)
        => exception.HttpRequestError == HttpRequestError.ResponseEnded || ExceptionTranslation.IsReset(exception);
}
