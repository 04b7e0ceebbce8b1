namespace AsyncHttp.Internal;

/// <summary>One forward proxy: where it is, how it is named everywhere (without credentials), and its credentials.</summary>
/// <param name="Address">The proxy's URL without user info: what the handler is given.</param>
/// <param name="Host">The proxy's host (an IPv6 address without brackets), for the connect callback.</param>
/// <param name="Port">The proxy's port.</param>
/// <param name="Name">The proxy as keys, statistics and messages show it: <c>http://proxy:3128</c>.</param>
/// <param name="Authorization">The <c>Proxy-Authorization</c> value (Basic) of the URL's credentials; null without.</param>
internal sealed record ProxyRoute(Uri Address, string Host, int Port, string Name, string? Authorization)
{
    /// <summary>The route of a proxy URL that <see cref="ProxySelection.Problem"/> accepted.</summary>
    public static ProxyRoute From(Uri proxy)
    {
        var address = UrlResolution.WithoutUserInfo(proxy);
        var name = new HostKey(Uri.UriSchemeHttp, proxy.IdnHost, proxy.Port).ToString();
        var authorization = proxy.UserInfo.Length > 0 ? UrlResolution.BasicAuthorization(proxy.UserInfo) : null;
        return new ProxyRoute(address, proxy.IdnHost.Trim('[', ']'), proxy.Port, name, authorization);
    }

    /// <summary>Never the credentials: a record's generated text would show them.</summary>
    public override string ToString() => Name;
}
