namespace AsyncHttp.Internal;

/// <summary>What a per-host limit counts: scheme, host and port, and the proxy requests to it go through, if any.</summary>
/// <remarks>
/// An IPv6 address keeps its brackets (<c>[::1]</c>), as <see cref="SocketsHttpHandler"/> names it to the connect
/// callback, so that admission and connection counting name one host alike, and <see cref="ToString"/> is a valid URL.
/// The same host reached directly and through a proxy (a reconfiguration, <c>NO_PROXY</c>) are two hosts: their
/// connections are not the same (DESIGN §2).
/// </remarks>
internal readonly record struct HostKey
{
    public HostKey(string scheme, string host, int port, string? proxy = null)
    {
        Scheme = scheme;
        Host = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        Port = port;
        Proxy = proxy;
    }

    public string Scheme { get; }

    /// <summary>The host name or IP address; an IPv6 address in brackets.</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>The proxy requests to the host go through, as <c>http://proxy:3128</c> (never its credentials); null when none.</summary>
    public string? Proxy { get; }

    /// <summary>The host without brackets, as OpenTelemetry's <c>server.address</c> and <see cref="Uri.IdnHost"/> write it.</summary>
    public string Address => Host.StartsWith('[') ? Host[1..^1] : Host;

    public static HostKey From(Uri uri, string? proxy = null) => new(uri.Scheme, uri.IdnHost, uri.Port, proxy);

    /// <summary>The key as the start of a URL: <c>http://example.com:80</c>, <c>http://[::1]:8080</c>.</summary>
    public override string ToString() => $"{Scheme}://{Host}:{Port}";

    /// <summary>The key for people: the host, and the proxy it goes through (<c>https://example.com:443 via http://proxy:3128</c>).</summary>
    public string Describe() => Proxy is null ? ToString() : $"{ToString()} via {Proxy}";
}
