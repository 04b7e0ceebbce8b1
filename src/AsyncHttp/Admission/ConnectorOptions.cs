using System.Net;
using System.Net.Security;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// The settings of a <see cref="Connector"/>: the limits every session on it shares (their sum is capped here), and
/// every setting that shapes a connection, since a connection one session opened may carry another session's request.
/// Flat so that they bind from configuration (<c>AsyncHttp:Connectors:{name}</c>). A connector takes a copy.
/// </summary>
/// <remarks>
/// A session that owns its connector (the default: no connector given) takes these settings from its own
/// <see cref="ClientSessionOptions"/>, under the same names. A session on a shared connector must leave them unset: the
/// connector's apply, and setting one there is a validation error naming the session and the key.
/// </remarks>
public sealed class ConnectorOptions
{
    /// <summary>The most requests in flight at once on the connector, across all its sessions and hosts; 0 means no limit.</summary>
    /// <value>100.</value>
    public int Limit { get; set; } = ClientSessionDefaults.Limit;

    /// <summary>The most requests in flight at once to one host (scheme, host and port), across all sessions; 0 means no limit.</summary>
    /// <value>0 (none).</value>
    public int LimitPerHost { get; set; } = ClientSessionDefaults.LimitPerHost;

    /// <summary>
    /// The most requests that may wait in the connector's queue, all sessions together; a request beyond it fails at
    /// once with <see cref="QueueFullException"/>. 0 means unbounded.
    /// </summary>
    /// <value>0 (unbounded).</value>
    public int QueueLimit { get; set; } = ClientSessionDefaults.QueueLimit;

    /// <summary>How long an idle connection is kept for reuse.</summary>
    /// <value>15 seconds.</value>
    public TimeSpan KeepAliveTimeout { get; set; } = ClientSessionDefaults.KeepAliveTimeout;

    /// <summary>Close each connection after its response instead of keeping it for reuse.</summary>
    /// <value><see langword="false"/>.</value>
    public bool ForceClose { get; set; }

    /// <summary>How long a resolved host name is reused for new connections; zero turns the cache off.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan DnsCacheTtl { get; set; } = ClientSessionDefaults.DnsCacheTtl;

    /// <summary>The most response header bytes accepted, in KiB (as <see cref="SocketsHttpHandler.MaxResponseHeadersLength"/>).</summary>
    /// <value>64 KiB.</value>
    public int MaxResponseHeadersLength { get; set; } = ClientSessionDefaults.MaxResponseHeadersLength;

    /// <summary>
    /// Accept any server certificate over https. Only for tests against a self-signed server: it turns off the
    /// protection TLS gives, for every session on the connector.
    /// </summary>
    /// <value><see langword="false"/>: certificates are validated.</value>
    public bool DangerousAcceptAnyServerCertificate { get; set; }

    /// <summary>A custom server certificate validation, instead of the platform's (code only; not bound from configuration).</summary>
    /// <value>None: the platform validates.</value>
    public RemoteCertificateValidationCallback? ServerCertificateValidationCallback { get; set; }

    /// <summary>
    /// How long a request sent with <c>Expect: 100-continue</c> waits for <c>100 Continue</c> or a final answer before
    /// it sends its body anyway (<see cref="SocketsHttpHandler.Expect100ContinueTimeout"/>): see
    /// <see cref="ClientSessionOptions.ExpectContinue"/>.
    /// </summary>
    /// <value>1 second.</value>
    public TimeSpan ExpectContinueTimeout { get; set; } = ClientSessionDefaults.ExpectContinueTimeout;

    /// <summary>
    /// The HTTP version the connector's requests ask for: <c>1.1</c>, or <c>2.0</c> for HTTP/2 (over https, by ALPN; over
    /// plain http only with <see cref="VersionPolicy"/> <see cref="HttpVersionPolicy.RequestVersionExact"/> or
    /// <see cref="HttpVersionPolicy.RequestVersionOrHigher"/>: h2c with prior knowledge). A request that asks for a
    /// version of its own (<see cref="RequestOptions.Version"/>, or an <see cref="HttpRequestMessage"/> whose version or
    /// policy is not the default) keeps it.
    /// </summary>
    /// <remarks>
    /// With HTTP/2 a slot is a request in flight (a stream): <see cref="LimitPerHost"/> bounds the streams to a host,
    /// several of which share a connection, and the transport opens another connection to a host when the server's
    /// <c>SETTINGS_MAX_CONCURRENT_STREAMS</c> is reached, so no request admitted waits below admission.
    /// <see cref="ConnectorStats.OpenConnections"/> and <see cref="ConnectorStats.ConnectionsOpened"/> count the
    /// connections.
    /// </remarks>
    /// <value>1.1.</value>
    public Version Version { get; set; } = ClientSessionDefaults.Version;

    /// <summary>
    /// How <see cref="Version"/> is negotiated (<see cref="HttpRequestMessage.VersionPolicy"/>): the version or lower
    /// (HTTP/2 over https falls back to HTTP/1.1 when the server's ALPN does not offer h2), exactly it, or it or higher.
    /// </summary>
    /// <value><see cref="HttpVersionPolicy.RequestVersionOrLower"/>.</value>
    public HttpVersionPolicy VersionPolicy { get; set; } = ClientSessionDefaults.VersionPolicy;

    /// <summary>
    /// The forward proxy every request goes through: an <c>http://</c> URL, with the proxy's credentials, if it needs
    /// them, as its user info (<c>http://user:password@proxy:3128</c>; sent as Basic <c>Proxy-Authorization</c> and
    /// shown nowhere). Requests to https URLs go through a <c>CONNECT</c> tunnel per connection; requests to http URLs are
    /// sent to the proxy, whose connections carry requests to any host. Overrides <see cref="TrustEnv"/>.
    /// </summary>
    /// <value>None: requests go to their hosts directly (or as <see cref="TrustEnv"/> says).</value>
    public Uri? Proxy { get; set; }

    /// <summary>
    /// Take the proxy from the environment when <see cref="Proxy"/> is not set, as aiohttp's <c>trust_env</c>:
    /// <c>HTTP_PROXY</c> for http URLs, <c>HTTPS_PROXY</c> for https URLs (lower-case names first), except for the
    /// hosts <c>NO_PROXY</c> lists. Read when the connector builds its transport (when it is created, and after a
    /// reconfiguration that changes a connection setting), not once per process as <see cref="HttpClient.DefaultProxy"/>.
    /// </summary>
    /// <value><see langword="false"/>: the environment is ignored.</value>
    public bool TrustEnv { get; set; }

    /// <summary>
    /// When a host name resolves to several addresses, how long a connection attempt waits before the next address is
    /// tried beside it (Happy Eyeballs, RFC 8305; aiohttp's <c>happy_eyeballs_delay</c>). The first to connect wins and
    /// the others are closed; an attempt that fails starts the next at once. <see cref="ClientTimeout.SockConnect"/>
    /// bounds all the attempts and the TLS handshake together. <see langword="null"/> tries the addresses one after
    /// another.
    /// </summary>
    /// <value>250 milliseconds.</value>
    public TimeSpan? HappyEyeballsDelay { get; set; } = ClientSessionDefaults.HappyEyeballsDelay;

    /// <summary>
    /// Replaces the connector's socket layer with the handler this returns: a fake upstream for tests (the
    /// <c>AsyncHttp.Testing</c> package) or a transport of your own, as <see cref="ClientSessionOptions.TransportFactory"/>
    /// does for a session that owns its connector. Code only; not bound from configuration.
    /// </summary>
    /// <remarks>
    /// The connector calls the factory when it is created and after a reconfiguration that changes a connection setting
    /// or a limit, and disposes the handler once the last slot using it is released: return a new handler each time.
    /// The handler serves every session on the connector; <see cref="ClientTransportContext.GetSessionName"/> tells
    /// which one sent a request.
    /// </remarks>
    /// <value>None: the connector's own <see cref="SocketsHttpHandler"/>.</value>
    public Func<ClientTransportContext, HttpMessageHandler>? TransportFactory { get; set; }

    /// <summary>
    /// The <see cref="ClientTimeout.SockConnect"/> the socket layer applies to each connect. A session that owns its
    /// connector passes its own; a shared connector applies the default.
    /// </summary>
    internal TimeSpan? SockConnect { get; set; } = ClientSessionDefaults.SockConnectTimeout;

    /// <summary>Resolves host names for new connections instead of the system's resolver (tests: several addresses for a name).</summary>
    internal Func<string, CancellationToken, Task<IPAddress[]>>? Resolver { get; set; }

    /// <summary>Reads an environment variable for <see cref="TrustEnv"/> (tests: an environment of their own).</summary>
    internal Func<string, string?>? Environment { get; set; }

    /// <summary>Returns a copy of these options.</summary>
    public ConnectorOptions Clone() => (ConnectorOptions)MemberwiseClone();

    /// <summary>
    /// Checks every setting and returns one message per bad one, each starting with the configuration key it concerns.
    /// Empty when all are valid.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        List<string> errors = [];
        ValidateLimits(errors, Limit, LimitPerHost, QueueLimit);
        ValidateConnections(errors, KeepAliveTimeout, DnsCacheTtl, MaxResponseHeadersLength, ExpectContinueTimeout);
        ValidateProtocols(errors, Version, VersionPolicy, Proxy, HappyEyeballsDelay);
        return errors;
    }

    /// <summary>The connector settings of a session that owns its connector: its limits and connection settings.</summary>
    internal static ConnectorOptions From(ClientSessionOptions session) => new()
    {
        Limit = session.Limit,
        LimitPerHost = session.LimitPerHost,
        QueueLimit = session.QueueLimit,
        KeepAliveTimeout = session.KeepAliveTimeout,
        ForceClose = session.ForceClose,
        DnsCacheTtl = session.DnsCacheTtl,
        MaxResponseHeadersLength = session.MaxResponseHeadersLength,
        DangerousAcceptAnyServerCertificate = session.DangerousAcceptAnyServerCertificate,
        ServerCertificateValidationCallback = session.ServerCertificateValidationCallback,
        TransportFactory = session.TransportFactory,
        ExpectContinueTimeout = session.ExpectContinueTimeout,
        Version = session.Version,
        VersionPolicy = session.VersionPolicy,
        Proxy = session.Proxy,
        TrustEnv = session.TrustEnv,
        HappyEyeballsDelay = session.HappyEyeballsDelay,
        SockConnect = session.Timeout.SockConnect,
    };

    internal static void ValidateLimits(List<string> errors, int limit, int limitPerHost, int queueLimit)
    {
        if (limit < 0)
        {
            errors.Add($"Limit must be 0 (no limit) or more; it is {limit}.");
        }

        if (limitPerHost < 0)
        {
            errors.Add($"LimitPerHost must be 0 (no limit) or more; it is {limitPerHost}.");
        }

        if (queueLimit < 0)
        {
            errors.Add($"QueueLimit must be 0 (unbounded) or more; it is {queueLimit}.");
        }
    }

    internal static void ValidateConnections(List<string> errors, TimeSpan keepAliveTimeout, TimeSpan dnsCacheTtl, int maxResponseHeadersLength, TimeSpan expectContinueTimeout)
    {
        if (keepAliveTimeout < TimeSpan.Zero)
        {
            errors.Add($"KeepAliveTimeout must not be negative; it is {keepAliveTimeout}.");
        }

        if (dnsCacheTtl < TimeSpan.Zero)
        {
            errors.Add($"DnsCacheTtl must not be negative; it is {dnsCacheTtl}.");
        }

        if (maxResponseHeadersLength <= 0)
        {
            errors.Add($"MaxResponseHeadersLength must be positive (KiB); it is {maxResponseHeadersLength}.");
        }

        if (expectContinueTimeout < TimeSpan.Zero || expectContinueTimeout > ClientSessionDefaults.MaxExpectContinueTimeout)
        {
            errors.Add($"ExpectContinueTimeout must be between 00:00:00 and {ClientSessionDefaults.MaxExpectContinueTimeout}; it is {expectContinueTimeout}.");
        }
    }

    internal static void ValidateProtocols(List<string> errors, Version? version, HttpVersionPolicy versionPolicy, Uri? proxy, TimeSpan? happyEyeballsDelay)
    {
        if (version is null || (version != HttpVersion.Version10 && version != HttpVersion.Version11 && version != HttpVersion.Version20))
        {
            var shown = version?.ToString() ?? "null";
            errors.Add(version == HttpVersion.Version30
                ? "Version 3.0 (HTTP/3) is not supported yet: it needs QUIC (libmsquic); use 1.1 or 2.0."
                : $"Version must be 1.0, 1.1 or 2.0; it is {shown}.");
        }

        if (!Enum.IsDefined(versionPolicy))
        {
            errors.Add($"VersionPolicy must be RequestVersionOrLower, RequestVersionOrHigher or RequestVersionExact; it is {versionPolicy}.");
        }

        if (proxy is not null && ProxySelection.Problem(proxy) is { } problem)
        {
            errors.Add($"Proxy {problem}");
        }

        if (happyEyeballsDelay is { } delay && (delay < TimeSpan.Zero || delay > ClientSessionDefaults.MaxHappyEyeballsDelay))
        {
            errors.Add($"HappyEyeballsDelay must be between 00:00:00 and {ClientSessionDefaults.MaxHappyEyeballsDelay}, or null to try addresses one after another; it is {delay}.");
        }
    }
}
