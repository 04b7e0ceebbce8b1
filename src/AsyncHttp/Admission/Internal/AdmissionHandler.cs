namespace AsyncHttp.Internal;

/// <summary>
/// The admission stage of the pipeline, just above the transport: takes a slot of the connector for each hop and
/// ties its release to the response body (end of body, dispose) or to the failure of the send.
/// </summary>
internal sealed class AdmissionHandler : DelegatingHandler
{
    private readonly Connector _connector;
    private readonly long? _maxDecompressedSize;

    /// <param name="connector">The connector whose slots requests take.</param>
    /// <param name="transport">The transport below.</param>
    /// <param name="maxDecompressedSize">Decode compressed bodies up to this size; null leaves them encoded.</param>
    public AdmissionHandler(Connector connector, HttpMessageHandler transport, long? maxDecompressedSize)
        : base(transport)
    {
        _connector = connector;
        _maxDecompressedSize = maxDecompressedSize;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Options.TryGetValue(RequestContext.OptionsKey, out var context);
        var host = await _connector.AcquireAsync(HostKey.From(request.RequestUri!), cancellationToken).ConfigureAwait(false);
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

        response.Content = new ReleasingContent(response.Content, new SlotLease(_connector, host), context, _maxDecompressedSize);
        return response;
    }

    private static bool IsIdempotent(HttpMethod method)
        => method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Put
        || method == HttpMethod.Delete || method == HttpMethod.Options || method == HttpMethod.Trace;

    private static bool IsClosedBeforeResponse(HttpRequestException exception)
    {
        if (exception.HttpRequestError == HttpRequestError.ResponseEnded)
        {
            return true;
        }

        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionAborted })
            {
                return true;
            }
        }

        return false;
    }
}
