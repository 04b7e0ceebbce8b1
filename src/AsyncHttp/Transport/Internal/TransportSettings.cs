using System.Net;
using System.Net.Security;

namespace AsyncHttp.Internal;

/// <summary>
/// The settings a connector's transport is built from. A reconfiguration that changes one of them builds a new
/// transport; any other change applies to the next admission as it is. A record, so "did the transport change" is an
/// equality and no setting can be forgotten in it.
/// </summary>
internal sealed record TransportSettings(
    TimeSpan KeepAliveTimeout,
    bool ForceClose,
    TimeSpan DnsCacheTtl,
    int MaxResponseHeadersLength,
    bool DangerousAcceptAnyServerCertificate,
    RemoteCertificateValidationCallback? ServerCertificateValidationCallback,
    TimeSpan? SockConnect,
    TimeSpan ExpectContinueTimeout,
    Version Version,
    HttpVersionPolicy VersionPolicy,
    Uri? Proxy,
    bool TrustEnv,
    TimeSpan? HappyEyeballsDelay,
    int ConnectionsPerServer,
    int ConnectionsPerProxy,
    Func<ClientTransportContext, HttpMessageHandler>? TransportFactory,
    Func<string, CancellationToken, Task<IPAddress[]>>? Resolver,
    Func<string, string?>? Environment)
{
    public static TransportSettings From(ConnectorOptions options) => new(
        options.KeepAliveTimeout,
        options.ForceClose,
        options.DnsCacheTtl,
        options.MaxResponseHeadersLength,
        options.DangerousAcceptAnyServerCertificate,
        options.ServerCertificateValidationCallback,
        options.SockConnect,
        options.ExpectContinueTimeout,
        options.Version,
        options.VersionPolicy,
        options.Proxy,
        options.TrustEnv,
        options.HappyEyeballsDelay,
        ConnectionsPerServerFor(options.Limit, options.LimitPerHost),
        ConnectionsPerServerFor(options.Limit, limitPerHost: 0),
        options.TransportFactory,
        options.Resolver,
        options.Environment);

    /// <summary>
    /// Whether <paramref name="request"/> asks for no version of its own: <see cref="HttpRequestMessage"/>'s defaults
    /// (1.1, or lower), which the connector's <see cref="Version"/> and <see cref="VersionPolicy"/> then replace.
    /// </summary>
    public static bool HasDefaultVersion(HttpRequestMessage request)
        => request.VersionPolicy == HttpVersionPolicy.RequestVersionOrLower && request.Version == HttpVersion.Version11;

    /// <summary>
    /// The most connections the transport may hold to one server: as many as admission lets requests to it be in flight
    /// (<see cref="ConnectorOptions.LimitPerHost"/>, else <see cref="ConnectorOptions.Limit"/>; none when both are 0).
    /// </summary>
    /// <remarks>
    /// Admission bounds requests; this bounds connections, including one a cancelled request left being established:
    /// the next request then waits for that connection rather than open one more. That is the only case in which the
    /// transport queues a request below admission, and only while that connection is being made. The transport bounds
    /// HTTP/1.x connections only: HTTP/2 connections carry several streams each, and the transport opens one more to a
    /// host only when every one it has is at the server's stream limit, so there are never more of them than streams
    /// in flight. Connections to a forward proxy carry the requests of every host it serves: their bound is
    /// <see cref="ConnectorOptions.Limit"/> (<see cref="ConnectionsPerProxy"/>).
    /// </remarks>
    public static int ConnectionsPerServerFor(int limit, int limitPerHost)
    {
        var perHost = limitPerHost > 0 && (limit == 0 || limitPerHost < limit) ? limitPerHost : limit;
        return perHost > 0 ? perHost : int.MaxValue;
    }
}
