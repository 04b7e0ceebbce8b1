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
    int ConnectionsPerServer,
    Func<ClientTransportContext, HttpMessageHandler>? TransportFactory)
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
        ConnectionsPerServerFor(options.Limit, options.LimitPerHost),
        options.TransportFactory);

    /// <summary>
    /// The most connections the transport may hold to one server: as many as admission lets requests to it be in flight
    /// (<see cref="ConnectorOptions.LimitPerHost"/>, else <see cref="ConnectorOptions.Limit"/>; none when both are 0).
    /// </summary>
    /// <remarks>
    /// Admission bounds requests; this bounds connections, including one a cancelled request left being established:
    /// the next request then waits for that connection rather than open one more. That is the only case in which the
    /// transport queues a request below admission, and only while that connection is being made.
    /// </remarks>
    public static int ConnectionsPerServerFor(int limit, int limitPerHost)
    {
        var perHost = limitPerHost > 0 && (limit == 0 || limitPerHost < limit) ? limitPerHost : limit;
        return perHost > 0 ? perHost : int.MaxValue;
    }
}
