using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// The timeouts of a session or of one request. Every field is optional: <see langword="null"/> means no limit.
/// A per-request <see cref="ClientTimeout"/> replaces the session's as a whole.
/// </summary>
public sealed class ClientTimeout
{
    /// <summary>
    /// The whole request: queue wait, connect, send, headers, redirects and reading the body, until the response
    /// is released. Fails with <see cref="TotalTimeoutException"/>.
    /// </summary>
    /// <value>Five minutes.</value>
    public TimeSpan? Total { get; set; } = ClientSessionDefaults.TotalTimeout;

    /// <summary>
    /// The wait in the connector's queue plus establishing a new connection (DNS, TCP and the TLS handshake), afresh on
    /// each hop of a redirect chain (and each hop a middleware sends): as aiohttp applies <c>timeout.connect</c> around
    /// each <c>connector.connect</c>. A hop served on a pooled connection spends only its queue wait.
    /// Fails with <see cref="ConnectTimeoutException"/>.
    /// </summary>
    /// <value>None.</value>
    public TimeSpan? Connect { get; set; }

    /// <summary>
    /// Establishing one connection: every address attempt and the TLS handshake, from the first attempt to the end of
    /// the handshake (as aiohttp's <c>sock_connect</c>; DNS is not included, <see cref="Connect"/> covers it). Each
    /// request's own value applies to the connection it opens. Fails with <see cref="SocketConnectTimeoutException"/>.
    /// </summary>
    /// <value>30 seconds.</value>
    public TimeSpan? SockConnect { get; set; } = ClientSessionDefaults.SockConnectTimeout;

    /// <summary>
    /// Each wait for data from the server: from the moment the request has been sent (its content uploaded in full)
    /// to the response headers, and every gap between body chunks. The upload itself is not bounded by it: a server
    /// that reads an upload slowly is waited for, and one that stops reading it is bounded by <see cref="Total"/>.
    /// Fails with <see cref="SocketReadTimeoutException"/>.
    /// </summary>
    /// <value>None.</value>
    public TimeSpan? SockRead { get; set; }

    /// <summary>Returns a copy of these timeouts.</summary>
    public ClientTimeout Clone() => new() { Total = Total, Connect = Connect, SockConnect = SockConnect, SockRead = SockRead };

    internal IEnumerable<string> Validate(string prefix)
    {
        foreach (var (name, value) in new[] { ("Total", Total), ("Connect", Connect), ("SockConnect", SockConnect), ("SockRead", SockRead) })
        {
            if (value is { } v && v <= TimeSpan.Zero)
            {
                yield return $"{prefix}{name} must be a positive time span or null (none); it is {v}.";
            }
        }
    }
}
