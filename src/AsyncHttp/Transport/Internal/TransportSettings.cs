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
    TimeSpan? SockConnect)
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
        options.Timeout.SockConnect);

    /// <summary>Decode compressed bodies up to this size; null leaves them encoded.</summary>
    public long? DecodeUpTo => AutoDecompress ? MaxDecompressedContentSize : null;
}
