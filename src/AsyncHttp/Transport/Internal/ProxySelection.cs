using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// Which proxy, if any, a request goes through, for one transport: the connector's <see cref="ConnectorOptions.Proxy"/>
/// for every request, or with <see cref="ConnectorOptions.TrustEnv"/> the environment's <c>HTTP_PROXY</c> and
/// <c>HTTPS_PROXY</c> except for the hosts of <c>NO_PROXY</c>, read once when the transport is built.
/// </summary>
/// <remarks>
/// <para>
/// The handler is given this as its <see cref="IWebProxy"/> for requests to http URLs only: it sends them to the proxy
/// (absolute-form), over connections pooled per proxy. A request to an https URL through a proxy is bypassed for the
/// handler: the transport's connect callback opens the <c>CONNECT</c> tunnel itself, so that the handler sees an
/// ordinary connection to the origin (pooled per origin, with TLS, SNI and ALPN to the origin as usual), and so that
/// the connection attempt, keyed by the request as for a direct connection, bounds the TCP connect to the proxy, the
/// tunnel and the TLS handshake alike (the handler's own tunnel would be made for a <c>CONNECT</c> message the
/// callback cannot tie to the request).
/// </para>
/// <para>
/// The credentials of a proxy URL (<c>http://user:password@proxy:3128</c>) become a Basic <c>Proxy-Authorization</c>
/// sent with the first message (the <c>CONNECT</c>, or each request through a plain proxy), never shown: keys, messages
/// and statistics name the proxy as <c>http://proxy:3128</c>.
/// </para>
/// </remarks>
internal sealed class ProxySelection : IWebProxy
{
    private readonly ProxyRoute? _http;
    private readonly ProxyRoute? _https;
    private readonly NoProxy? _bypass;

    private ProxySelection(ProxyRoute? http, ProxyRoute? https, NoProxy? bypass)
    {
        _http = http;
        _https = https;
        _bypass = bypass;
    }

    /// <summary>True when a proxy has credentials: the requests the handler sends to it carry them.</summary>
    public bool HasCredentials => _http?.Authorization is not null || _https?.Authorization is not null;

    /// <summary>Environment proxies that were set but could not be used, with why: for the log.</summary>
    public IReadOnlyList<string> Ignored { get; private init; } = [];

    ICredentials? IWebProxy.Credentials
    {
        // The Basic credentials go out with the request itself (ProxyAuthorizationHandler): none for a challenge.
        get => null;
        set => throw new NotSupportedException("The proxy's credentials are the user info of ConnectorOptions.Proxy.");
    }

    /// <summary>
    /// The proxy selection of <paramref name="settings"/>: null when every request goes directly, which is the case
    /// unless <see cref="TransportSettings.Proxy"/> is set or <see cref="TransportSettings.TrustEnv"/> finds a proxy.
    /// </summary>
    public static ProxySelection? From(TransportSettings settings)
    {
        if (settings.Proxy is { } proxy)
        {
            var route = ProxyRoute.From(proxy);
            return new ProxySelection(route, route, bypass: null);
        }

        return settings.TrustEnv ? FromEnvironment(settings.Environment ?? System.Environment.GetEnvironmentVariable) : null;
    }

    /// <summary>
    /// The proxies of the environment: <c>http_proxy</c> or <c>HTTP_PROXY</c>, <c>https_proxy</c> or <c>HTTPS_PROXY</c>,
    /// <c>no_proxy</c> or <c>NO_PROXY</c> (the lower-case name first, as curl reads them). A value without a scheme is
    /// an http proxy, as curl takes it; one that is not a usable http proxy is ignored and listed in <see cref="Ignored"/>.
    /// </summary>
    public static ProxySelection? FromEnvironment(Func<string, string?> environment)
    {
        List<string> ignored = [];
        var http = Read("http_proxy", "HTTP_PROXY");
        var https = Read("https_proxy", "HTTPS_PROXY");
        if (http is null && https is null)
        {
            return ignored.Count == 0 ? null : new ProxySelection(null, null, null) { Ignored = ignored };
        }

        var noProxy = Variable("no_proxy", "NO_PROXY");
        return new ProxySelection(http, https, string.IsNullOrWhiteSpace(noProxy) ? null : NoProxy.Parse(noProxy)) { Ignored = ignored };

        ProxyRoute? Read(string lower, string upper)
        {
            var value = Variable(lower, upper);
            if (string.IsNullOrWhiteSpace(value))
            {
                return null;
            }

            var text = value.Trim();
            if (!text.Contains("://", StringComparison.Ordinal))
            {
                text = "http://" + text;
            }

            if (!Uri.TryCreate(text, UriKind.Absolute, out var proxy))
            {
                ignored.Add($"{upper}: not a URL ('{UrlRedaction.Redact(text)}').");
                return null;
            }

            if (Problem(proxy) is { } problem)
            {
                ignored.Add($"{upper}: {problem}");
                return null;
            }

            return ProxyRoute.From(proxy);
        }

        string? Variable(string lower, string upper) => environment(lower) is { Length: > 0 } value ? value : environment(upper);
    }

    /// <summary>What is wrong with <paramref name="proxy"/> as a proxy, as the end of a sentence; null when it is usable.</summary>
    public static string? Problem(Uri proxy)
    {
        if (!proxy.IsAbsoluteUri || proxy.Scheme != Uri.UriSchemeHttp || proxy.IdnHost.Length == 0)
        {
            return $"must be an absolute http:// URL (https and SOCKS proxies are not supported); it is '{UrlRedaction.Redact(proxy)}'.";
        }

        return proxy.UserInfo.Length > 0 && UrlResolution.BasicAuthorization(proxy.UserInfo) is null
            ? $"has a user name with ':', which Basic authentication cannot carry ('{UrlRedaction.Redact(proxy)}')."
            : null;
    }

    /// <summary>The proxy a request to <paramref name="url"/> goes through; null when it goes directly.</summary>
    public ProxyRoute? RouteFor(Uri url)
    {
        var route = url.Scheme == Uri.UriSchemeHttps ? _https : url.Scheme == Uri.UriSchemeHttp ? _http : null;
        return route is null || (_bypass is not null && _bypass.Matches(url)) ? null : route;
    }

    /// <summary>For the handler: the proxy of an http URL. An https URL goes through a tunnel the connect callback makes.</summary>
    public Uri? GetProxy(Uri destination)
        => destination.Scheme == Uri.UriSchemeHttp && RouteFor(destination) is { } route ? route.Address : null;

    /// <inheritdoc cref="IWebProxy.IsBypassed"/>
    public bool IsBypassed(Uri host) => GetProxy(host) is null;

    /// <summary>The hosts of <c>NO_PROXY</c>: names (a suffix on a dot boundary), IP addresses and ranges, ports, or <c>*</c>.</summary>
    internal sealed class NoProxy
    {
        private readonly bool _all;
        private readonly List<(string Host, int? Port)> _names = [];
        private readonly List<IPNetwork> _networks = [];

        private NoProxy(bool all) => _all = all;

        public static NoProxy Parse(string value)
        {
            var entries = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (entries.Contains("*"))
            {
                return new NoProxy(all: true);
            }

            var noProxy = new NoProxy(all: false);
            foreach (var entry in entries)
            {
                if (IPNetwork.TryParse(entry, out var network))
                {
                    noProxy._networks.Add(network);
                    continue;
                }

                var (host, port) = SplitPort(entry);
                host = host.TrimStart('*').TrimStart('.').Trim('[', ']').ToLowerInvariant();
                if (host.Length > 0)
                {
                    noProxy._names.Add((host, port));
                }
            }

            return noProxy;
        }

        public bool Matches(Uri url)
        {
            if (_all)
            {
                return true;
            }

            var host = url.IdnHost.Trim('[', ']');
            if (_networks.Count > 0 && IPAddress.TryParse(host, out var address))
            {
                foreach (var network in _networks)
                {
                    if (network.Contains(address))
                    {
                        return true;
                    }
                }
            }

            foreach (var (name, port) in _names)
            {
                if ((port is null || port == url.Port)
                    && (host.Equals(name, StringComparison.OrdinalIgnoreCase)
                        || (host.Length > name.Length && host.EndsWith(name, StringComparison.OrdinalIgnoreCase) && host[^(name.Length + 1)] == '.')))
                {
                    return true;
                }
            }

            return false;
        }

        private static (string Host, int? Port) SplitPort(string entry)
        {
            // "[::1]:8080", "host:8080"; an IPv6 address without brackets has several colons and no port.
            var colon = entry.LastIndexOf(':');
            var bracket = entry.LastIndexOf(']');
            if (colon > bracket && (bracket >= 0 || entry.IndexOf(':', StringComparison.Ordinal) == colon)
                && int.TryParse(entry.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
            {
                return (entry[..colon], port);
            }

            return (entry, null);
        }
    }
}
