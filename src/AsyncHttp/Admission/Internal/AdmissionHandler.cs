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
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _connector.Release(host);
            throw;
        }

        response.Content = new ReleasingContent(response.Content, new SlotLease(_connector, host), context, _maxDecompressedSize);
        return response;
    }
}
