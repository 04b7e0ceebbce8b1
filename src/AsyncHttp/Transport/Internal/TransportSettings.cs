using System.Net.Security;

namespace AsyncHttp.Internal;

/// <summary>
/// The settings a session's transport and admission stage are built from. A reload that changes one of them builds a
/// new pipeline; any other change applies to the next request as it is. A record, so "did the transport change" is an
/// equality and no setting can be forgotten in it.
/// </summary>
internal sealed record TransportSettings(
    TimeSpan KeepAliveTimeout,
    bool ForceClose,
    TimeSpan DnsCacheTtl,
    bool AutoDecompress,
    int MaxResponseHeadersLength,
    long MaxDecompressedContentSize,
    bool DangerousAcceptAnyServerCertificate,
    RemoteCertificateValidationCallback? ServerCertificateValidationCallback,
    TimeSpan? SockConnect,
    TimeSpan ExpectContinueTimeout,
    int ConnectionsPerServer,
    Func<ClientTransportContext, HttpMessageHandler>? TransportFactory)
{
    public static TransportSettings From(ClientSessionOptions options) => new(
        options.KeepAliveTimeout,
        options.ForceClose,
        options.DnsCacheTtl,
        options.AutoDecompress,
        options.MaxResponseHeadersLength,
        options.MaxDecompressedContentSize,
        options.DangerousAcceptAnyServerCertificate,
        options.ServerCertificateValidationCallback,
        options.Timeout.SockConnect,
        options.ExpectContinueTimeout,
        ConnectionsPerServerFor(options.Limit, options.LimitPerHost),
        options.TransportFactory);

    /// <summary>
    /// The most connections the transport may hold to one server: as many as admission lets requests to it be in flight
    /// (<see cref="ClientSessionOptions.LimitPerHost"/>, else <see cref="ClientSessionOptions.Limit"/>; none when both are 0).
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

    /// <summary>Decode compressed bodies up to this size; null leaves them encoded.</summary>
    public long? DecodeUpTo => AutoDecompress ? MaxDecompressedContentSize : null;
}
