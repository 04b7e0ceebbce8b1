namespace AsyncHttp.Internal;

/// <summary>
/// The admission stage of the pipeline, just above the transport: takes a slot of the connector for each hop and
/// ties its release to the response body (end of body, dispose) or to the failure of the send.
/// </summary>
internal sealed class AdmissionHandler : DelegatingHandler
{
    private readonly Connector _connector;

    public AdmissionHandler(Connector connector, HttpMessageHandler transport)
        : base(transport)
    {
        _connector = connector;
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

        response.Content = new ReleasingContent(response.Content, new SlotLease(_connector, host), context);
        return response;
    }
}
