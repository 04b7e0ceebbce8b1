namespace AsyncHttp.Internal;

/// <summary>What a per-host limit counts: scheme, host and port.</summary>
/// <remarks>
/// An IPv6 address keeps its brackets (<c>[::1]</c>), as <see cref="SocketsHttpHandler"/> names it to the connect
/// callback, so that admission and connection counting name one host alike, and <see cref="ToString"/> is a valid URL.
/// </remarks>
internal readonly record struct HostKey
{
    public HostKey(string scheme, string host, int port)
    {
        Scheme = scheme;
        Host = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        Port = port;
    }

    public string Scheme { get; }

    /// <summary>The host name or IP address; an IPv6 address in brackets.</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>The host without brackets, as OpenTelemetry's <c>server.address</c> and <see cref="Uri.IdnHost"/> write it.</summary>
    public string Address => Host.StartsWith('[') ? Host[1..^1] : Host;

    public static HostKey From(Uri uri) => new(uri.Scheme, uri.IdnHost, uri.Port);

    /// <summary>The key as the start of a URL: <c>http://example.com:80</c>, <c>http://[::1]:8080</c>.</summary>
    public override string ToString() => $"{Scheme}://{Host}:{Port}";
}
