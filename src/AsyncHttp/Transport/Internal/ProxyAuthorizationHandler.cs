namespace AsyncHttp.Internal;

/// <summary>
/// Sends the proxy's credentials with each request the handler sends to a plain-HTTP proxy (a request to an http URL),
/// as Basic <c>Proxy-Authorization</c>, at once: the handler would first send it without and wait for the proxy's 407,
/// a second round trip per request. The header is there only while the transport sends the request: the message the
/// caller (and a middleware, a log) sees afterwards never holds it.
/// </summary>
/// <remarks>
/// Requests to https URLs carry no such header: their credentials go in the tunnel's <c>CONNECT</c>, to the proxy
/// alone (<see cref="ProxyTunnel"/>). A request that carries its own <c>Proxy-Authorization</c> keeps it.
/// </remarks>
internal sealed class ProxyAuthorizationHandler(HttpMessageHandler transport, ProxySelection proxies) : DelegatingHandler(transport)
{
    private const string Header = "Proxy-Authorization";

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is not { Scheme: "http" } url
            || proxies.RouteFor(url) is not { Authorization: { } authorization }
            || request.Headers.NonValidated.Contains(Header))
        {
            return base.SendAsync(request, cancellationToken);
        }

        return SendWithCredentialsAsync(request, authorization, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendWithCredentialsAsync(HttpRequestMessage request, string authorization, CancellationToken cancellationToken)
    {
        request.Headers.TryAddWithoutValidation(Header, authorization);
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.Headers.Remove(Header);
        }
    }
}
