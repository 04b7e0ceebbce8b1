namespace AsyncHttp;

/// <summary>The connector's numbers for one host.</summary>
/// <param name="Host">
/// The host key: scheme, host and port, as <c>http://example.com:80</c>, with an IPv6 address in brackets
/// (<c>http://[::1]:8080</c>), so that it parses as a <see cref="Uri"/>.
/// </param>
/// <param name="InUse">Slots held by requests to this host.</param>
/// <param name="Waiting">Requests to this host waiting in the queue.</param>
/// <param name="OpenConnections">TCP connections open to this host.</param>
public sealed record HostStats(string Host, int InUse, int Waiting, int OpenConnections)
{
    /// <summary>The scheme of <see cref="Host"/>: <c>http</c> or <c>https</c>.</summary>
    /// <remarks>With <see cref="Address"/> and <see cref="Port"/>, the parts of the key, so that nothing has to parse it.</remarks>
    public string Scheme { get; init; } = "";

    /// <summary>
    /// The host name or IP address of <see cref="Host"/>, an IPv6 address without brackets (<c>::1</c>), as
    /// OpenTelemetry's <c>server.address</c> and <see cref="Uri.IdnHost"/> write it.
    /// </summary>
    public string Address { get; init; } = "";

    /// <summary>The port of <see cref="Host"/>.</summary>
    public int Port { get; init; }

    /// <summary>
    /// The proxy the host's requests go through, as <c>http://proxy:3128</c> (never its credentials); null when they go
    /// directly. The same host reached directly and through a proxy are two hosts. With a plain-HTTP proxy (requests to
    /// http URLs) the connections are the proxy's, and show in the proxy's own entry, whose <see cref="Host"/> is the
    /// proxy: they carry the requests of every host it serves.
    /// </summary>
    public string? Proxy { get; init; }
}
