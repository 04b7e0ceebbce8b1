namespace AsyncHttp.Internal;

/// <summary>
/// The admission stage of the pipeline, just above the transport: takes a slot of the connector for each hop and
/// ties its release to the response body (end of body, dispose) or to the failure of the send.
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
            try
            {
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (IsIdempotent(request.Method) && IsClosedBeforeResponse(ex) && !cancellationToken.IsCancellationRequested)
            {
                // The server closed the connection before answering, typically a kept-alive connection it had just
                // dropped: an idempotent request is sent once more, on a fresh connection, with the slot it holds.
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            _connector.Release(host);
            throw;
        }

        if (context is { CreatedConnection: false })
        {
            _telemetry.Trace(TraceEventKind.ConnectionReuse, request.Method, request.RequestUri, key.Host);
        }

        response.Content = new ReleasingContent(response.Content, new SlotLease(_connector, host), context, _maxDecompressedSize);
        return response;
    }

    /// <summary>The slow path: the request waits in the queue, which is traced, timed and given a span.</summary>
    private async ValueTask<HostState> WaitInQueueAsync(ValueTask<HostState> acquire, HostKey key, HttpRequestMessage request)
    {
        var started = _time.GetTimestamp();
        _telemetry.Trace(TraceEventKind.ConnectionQueuedStart, request.Method, request.RequestUri, key.Host);
        using var span = _telemetry.StartQueueWait(key);
        var host = await acquire.ConfigureAwait(false);
        var waited = _time.GetElapsedTime(started);
        _telemetry.QueueWaited(key, waited, request.Method, request.RequestUri!);
        _telemetry.Trace(TraceEventKind.ConnectionQueuedEnd, request.Method, request.RequestUri, key.Host, elapsed: waited);
        return host;
    }

    private static bool IsIdempotent(HttpMethod method)
        => method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Put
        || method == HttpMethod.Delete || method == HttpMethod.Options || method == HttpMethod.Trace;

    private static bool IsClosedBeforeResponse(HttpRequestException exception)
        => exception.HttpRequestError == HttpRequestError.ResponseEnded || ExceptionTranslation.IsReset(exception);
}
