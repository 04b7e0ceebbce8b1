using System.Net.Security;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// The settings of a <see cref="ClientSession"/>, flat so that <c>o =&gt; o.Limit = 0</c> works and so that they bind
/// from configuration. A session takes a copy when it is created; later changes to this object do not affect it.
/// </summary>
public sealed class ClientSessionOptions
{
    // The connection settings given a value (and Limit): a session on a shared connector must not set the former, and
    // its Limit caps it inside the pool only when set. MemberwiseClone copies it with the values.
    private Assigned _assigned;
    private int _limit = ClientSessionDefaults.Limit;
    private TimeSpan _keepAliveTimeout = ClientSessionDefaults.KeepAliveTimeout;
    private bool _forceClose;
    private TimeSpan _dnsCacheTtl = ClientSessionDefaults.DnsCacheTtl;
    private int _maxResponseHeadersLength = ClientSessionDefaults.MaxResponseHeadersLength;
    private bool _dangerousAcceptAnyServerCertificate;
    private RemoteCertificateValidationCallback? _serverCertificateValidationCallback;
    private Func<ClientTransportContext, HttpMessageHandler>? _transportFactory;
    private TimeSpan _expectContinueTimeout = ClientSessionDefaults.ExpectContinueTimeout;
    private Version _version = ClientSessionDefaults.Version;
    private HttpVersionPolicy _versionPolicy = ClientSessionDefaults.VersionPolicy;
    private Uri? _proxy;
    private bool _trustEnv;
    private TimeSpan? _happyEyeballsDelay = ClientSessionDefaults.HappyEyeballsDelay;

    [Flags]
    private enum Assigned
    {
        None = 0,
        Limit = 1 << 0,
        KeepAliveTimeout = 1 << 1,
        ForceClose = 1 << 2,
        DnsCacheTtl = 1 << 3,
        MaxResponseHeadersLength = 1 << 4,
        DangerousAcceptAnyServerCertificate = 1 << 5,
        ServerCertificateValidationCallback = 1 << 6,
        TransportFactory = 1 << 7,
        ExpectContinueTimeout = 1 << 8,
        Version = 1 << 9,
        VersionPolicy = 1 << 10,
        Proxy = 1 << 11,
        TrustEnv = 1 << 12,
        HappyEyeballsDelay = 1 << 13,
    }

    /// <summary>The settings that shape a connection, with their configuration keys: on a shared connector, the connector's.</summary>
    private static readonly (Assigned Setting, string Key)[] ConnectionSettings =
    [
        (Assigned.KeepAliveTimeout, nameof(KeepAliveTimeout)),
        (Assigned.ForceClose, nameof(ForceClose)),
        (Assigned.DnsCacheTtl, nameof(DnsCacheTtl)),
        (Assigned.MaxResponseHeadersLength, nameof(MaxResponseHeadersLength)),
        (Assigned.DangerousAcceptAnyServerCertificate, nameof(DangerousAcceptAnyServerCertificate)),
        (Assigned.ServerCertificateValidationCallback, nameof(ServerCertificateValidationCallback)),
        (Assigned.TransportFactory, nameof(TransportFactory)),
        (Assigned.ExpectContinueTimeout, nameof(ExpectContinueTimeout)),
        (Assigned.Version, nameof(Version)),
        (Assigned.VersionPolicy, nameof(VersionPolicy)),
        (Assigned.Proxy, nameof(Proxy)),
        (Assigned.TrustEnv, nameof(TrustEnv)),
        (Assigned.HappyEyeballsDelay, nameof(HappyEyeballsDelay)),
    ];

    /// <summary>
    /// The most requests in flight at once across all hosts; 0 means no limit. On a shared <see cref="Connector"/>, the
    /// session's own cap inside the pool (the connector's <see cref="ConnectorOptions.Limit"/> caps the sum); left
    /// unset there, the session has no cap of its own.
    /// </summary>
    /// <value>100 (on a shared connector: none of its own unless set).</value>
    public int Limit
    {
        get => _limit;
        set => Assign(ref _limit, value, Assigned.Limit);
    }

    /// <summary>
    /// The most requests in flight at once to one host (scheme, host and port); 0 means no limit. On a shared
    /// <see cref="Connector"/>, the session's own cap per host inside the pool.
    /// </summary>
    /// <value>0 (none).</value>
    public int LimitPerHost { get; set; } = ClientSessionDefaults.LimitPerHost;

    /// <summary>
    /// The most requests that may wait in the queue; a request beyond it fails at once with
    /// <see cref="QueueFullException"/>. 0 means unbounded. On a shared <see cref="Connector"/>, the most of this
    /// session's requests that may wait (the connector's <see cref="ConnectorOptions.QueueLimit"/> bounds the sum).
    /// </summary>
    /// <value>0 (unbounded).</value>
    public int QueueLimit { get; set; } = ClientSessionDefaults.QueueLimit;

    /// <summary>
    /// The name of the shared <see cref="Connector"/> the session draws its connections from; none for a session that
    /// owns its connector. With the host integration, a connector registered with <c>AddClientConnector</c> or under
    /// <c>AsyncHttp:Connectors</c> (names are case-insensitive). In code, the connector given to the
    /// <see cref="ClientSession"/> constructor, whose name this must then be, if it is set.
    /// </summary>
    /// <remarks>
    /// A session on a shared connector keeps its own headers, base address, cookies, timeouts, middlewares and
    /// <see cref="Limit"/>, <see cref="LimitPerHost"/> and <see cref="QueueLimit"/> as caps inside the pool; the
    /// settings that shape a connection (<see cref="KeepAliveTimeout"/>, <see cref="ForceClose"/>,
    /// <see cref="DnsCacheTtl"/>, <see cref="MaxResponseHeadersLength"/>, <see cref="ExpectContinueTimeout"/>,
    /// <see cref="Version"/>, <see cref="VersionPolicy"/>, <see cref="Proxy"/>, <see cref="TrustEnv"/>,
    /// <see cref="HappyEyeballsDelay"/>, the certificate settings and <see cref="TransportFactory"/>) are the
    /// connector's, and setting one on the session is an error.
    /// </remarks>
    /// <value>None: the session owns its connector, configured by the settings here.</value>
    public string? Connector { get; set; }

    /// <summary>
    /// The session's priority on a shared <see cref="Connector"/>: a freed slot goes to the oldest waiter that can use
    /// it among the sessions of the highest priority that have one. Higher first; there is no preemption. No effect on
    /// a connector the session owns.
    /// </summary>
    /// <value>0.</value>
    public int Priority { get; set; }

    /// <summary>
    /// The absolute http or https URL that relative request URLs are resolved against (RFC 3986). When it has a path,
    /// the path must end in <c>/</c>, so that <c>"items"</c> joins as <c>/api/items</c> and not <c>/items</c>.
    /// </summary>
    /// <value>None: request URLs must be absolute.</value>
    public Uri? BaseAddress { get; set; }

    /// <summary>Headers sent with every request; a per-request header of the same name replaces one of these.</summary>
    /// <value>Empty.</value>
    public IDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The timeouts of each request, unless the request gives its own.</summary>
    /// <value><see cref="ClientTimeout.Total"/> 5 minutes and <see cref="ClientTimeout.SockConnect"/> 30 seconds.</value>
    public ClientTimeout Timeout { get; set; } = new();

    /// <summary>How long an idle connection is kept for reuse.</summary>
    /// <value>15 seconds.</value>
    public TimeSpan KeepAliveTimeout
    {
        get => _keepAliveTimeout;
        set => Assign(ref _keepAliveTimeout, value, Assigned.KeepAliveTimeout);
    }

    /// <summary>Close each connection after its response instead of keeping it for reuse.</summary>
    /// <value><see langword="false"/>.</value>
    public bool ForceClose
    {
        get => _forceClose;
        set => Assign(ref _forceClose, value, Assigned.ForceClose);
    }

    /// <summary>How long a resolved host name is reused for new connections; zero turns the cache off.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan DnsCacheTtl
    {
        get => _dnsCacheTtl;
        set => Assign(ref _dnsCacheTtl, value, Assigned.DnsCacheTtl);
    }

    /// <summary>
    /// Throw <see cref="ResponseStatusException"/> for every response with status 400 or above (aiohttp's
    /// <c>raise_for_status</c>); a 3xx that is not followed passes, unlike <see cref="ClientResponse.EnsureSuccessStatusCode"/>.
    /// </summary>
    /// <value><see langword="false"/>.</value>
    public bool RaiseForStatus { get; set; }

    /// <summary>Ask for and decompress gzip, deflate and brotli bodies.</summary>
    /// <value><see langword="true"/>.</value>
    public bool AutoDecompress { get; set; } = true;

    /// <summary>The most response header bytes accepted, in KiB (as <see cref="SocketsHttpHandler.MaxResponseHeadersLength"/>).</summary>
    /// <value>64 KiB.</value>
    public int MaxResponseHeadersLength
    {
        get => _maxResponseHeadersLength;
        set => Assign(ref _maxResponseHeadersLength, value, Assigned.MaxResponseHeadersLength);
    }

    /// <summary>
    /// The most body bytes <see cref="ClientResponse.ReadAsBytesAsync"/>, <see cref="ClientResponse.ReadAsStringAsync"/>
    /// and <c>ReadFromJsonAsync</c> read; a larger body fails with <see cref="ClientPayloadException"/>. The stream and
    /// chunk readers are not limited; <see cref="ClientResponse.ReadLinesAsync"/> is bounded by <see cref="MaxLineLength"/>.
    /// </summary>
    /// <value>16 MiB.</value>
    public long MaxResponseContentBufferSize { get; set; } = ClientSessionDefaults.MaxResponseContentBufferSize;

    /// <summary>
    /// The longest line, in characters and without its line ending, that <see cref="ClientResponse.ReadLinesAsync"/>
    /// returns; a longer line fails with <see cref="ClientPayloadException"/>, so one line without end cannot exhaust
    /// memory. aiohttp's <c>readline</c> has a bound of the same size, in bytes (twice its 64 KiB read buffer).
    /// </summary>
    /// <value>131072 (128 Ki characters).</value>
    public int MaxLineLength { get; set; } = ClientSessionDefaults.MaxLineLength;

    /// <summary>The most redirects followed for one request; one more fails with <see cref="TooManyRedirectsException"/>.</summary>
    /// <value>10.</value>
    public int MaxRedirects { get; set; } = ClientSessionDefaults.MaxRedirects;

    /// <summary>Keep a cookie jar for the session: store the cookies responses set and send them back.</summary>
    /// <value><see langword="true"/>.</value>
    public bool UseCookies { get; set; } = true;

    /// <summary>Accept cookies from hosts given as IP addresses, which browsers and aiohttp refuse by default.</summary>
    /// <value><see langword="false"/>.</value>
    public bool UnsafeCookies { get; set; }

    /// <summary>
    /// The most bytes a compressed body may decompress to; beyond it reading fails with
    /// <see cref="ClientPayloadException"/>, so a small compressed body cannot exhaust memory.
    /// </summary>
    /// <value>256 MiB.</value>
    public long MaxDecompressedContentSize { get; set; } = ClientSessionDefaults.MaxDecompressedContentSize;

    /// <summary>
    /// Send requests that have a body with <c>Expect: 100-continue</c> (aiohttp's <c>expect100</c>): the body goes out
    /// once the server says <c>100 Continue</c>, or after <see cref="ExpectContinueTimeout"/> without an answer; a
    /// server that answers first with a final status (<c>413</c> before a large upload, say) is seen as that response, and
    /// the body is not sent. Without it, such a server's early answer is lost on HTTP/1.1: the transport sends the whole
    /// body before it reads any response, and the caller gets <see cref="ServerDisconnectedException"/> when the server
    /// closes. <see cref="RequestOptions.ExpectContinue"/> decides per request.
    /// </summary>
    /// <value><see langword="false"/>.</value>
    public bool ExpectContinue { get; set; }

    /// <summary>
    /// How long a request sent with <c>Expect: 100-continue</c> waits for <c>100 Continue</c> or a final answer before
    /// it sends its body anyway (a server may not know the header; RFC 9110 §10.1.1). The transport's
    /// <see cref="SocketsHttpHandler.Expect100ContinueTimeout"/>, so a setting of the connector: a session on a shared
    /// connector leaves it to <see cref="ConnectorOptions.ExpectContinueTimeout"/>.
    /// </summary>
    /// <value>1 second.</value>
    public TimeSpan ExpectContinueTimeout
    {
        get => _expectContinueTimeout;
        set => Assign(ref _expectContinueTimeout, value, Assigned.ExpectContinueTimeout);
    }

    /// <inheritdoc cref="ConnectorOptions.Version"/>
    /// <remarks>A setting of the connector: a session on a shared connector leaves it to <see cref="ConnectorOptions.Version"/>.</remarks>
    /// <value>1.1.</value>
    public Version Version
    {
        get => _version;
        set => Assign(ref _version, value, Assigned.Version);
    }

    /// <inheritdoc cref="ConnectorOptions.VersionPolicy"/>
    /// <remarks>A setting of the connector: a session on a shared connector leaves it to <see cref="ConnectorOptions.VersionPolicy"/>.</remarks>
    /// <value><see cref="HttpVersionPolicy.RequestVersionOrLower"/>.</value>
    public HttpVersionPolicy VersionPolicy
    {
        get => _versionPolicy;
        set => Assign(ref _versionPolicy, value, Assigned.VersionPolicy);
    }

    /// <inheritdoc cref="ConnectorOptions.Proxy"/>
    /// <remarks>A setting of the connector: a session on a shared connector leaves it to <see cref="ConnectorOptions.Proxy"/>.</remarks>
    /// <value>None: requests go to their hosts directly (or as <see cref="TrustEnv"/> says).</value>
    public Uri? Proxy
    {
        get => _proxy;
        set => Assign(ref _proxy, value, Assigned.Proxy);
    }

    /// <inheritdoc cref="ConnectorOptions.TrustEnv"/>
    /// <remarks>A setting of the connector: a session on a shared connector leaves it to <see cref="ConnectorOptions.TrustEnv"/>.</remarks>
    /// <value><see langword="false"/>: the environment is ignored.</value>
    public bool TrustEnv
    {
        get => _trustEnv;
        set => Assign(ref _trustEnv, value, Assigned.TrustEnv);
    }

    /// <inheritdoc cref="ConnectorOptions.HappyEyeballsDelay"/>
    /// <remarks>A setting of the connector: a session on a shared connector leaves it to <see cref="ConnectorOptions.HappyEyeballsDelay"/>.</remarks>
    /// <value>250 milliseconds.</value>
    public TimeSpan? HappyEyeballsDelay
    {
        get => _happyEyeballsDelay;
        set => Assign(ref _happyEyeballsDelay, value, Assigned.HappyEyeballsDelay);
    }

    /// <summary>
    /// Accept any server certificate over https. Only for tests against a self-signed server: it turns off the
    /// protection TLS gives.
    /// </summary>
    /// <value><see langword="false"/>: certificates are validated.</value>
    public bool DangerousAcceptAnyServerCertificate
    {
        get => _dangerousAcceptAnyServerCertificate;
        set => Assign(ref _dangerousAcceptAnyServerCertificate, value, Assigned.DangerousAcceptAnyServerCertificate);
    }

    /// <summary>A custom server certificate validation, instead of the platform's (code only; not bound from configuration).</summary>
    /// <value>None: the platform validates.</value>
    public RemoteCertificateValidationCallback? ServerCertificateValidationCallback
    {
        get => _serverCertificateValidationCallback;
        set => Assign(ref _serverCertificateValidationCallback, value, Assigned.ServerCertificateValidationCallback);
    }

    /// <summary>
    /// Replaces the session's socket layer, the <see cref="SocketsHttpHandler"/> that sends each admitted request over
    /// the network, with the handler this returns: a fake upstream for tests (the <c>AsyncHttp.Testing</c> package),
    /// or a transport of your own. Code only; not bound from configuration.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Everything above the socket layer still applies: admission (<see cref="Limit"/>, <see cref="LimitPerHost"/>,
    /// <see cref="QueueLimit"/> and the queue's order), the timeouts (<see cref="ClientTimeout.Total"/>, the queue wait of
    /// <see cref="ClientTimeout.Connect"/>, <see cref="ClientTimeout.SockRead"/> on the headers and the body), the
    /// release of the slot at the end of the body or on dispose, redirects, cookies, decompression, middlewares,
    /// metrics and traces. The handler is called once a request holds its slot, with the request's cancellation,
    /// which timeouts and the session's close trigger.
    /// </para>
    /// <para>
    /// What configures the socket layer does nothing then: <see cref="KeepAliveTimeout"/>, <see cref="ForceClose"/>,
    /// <see cref="DnsCacheTtl"/>, <see cref="ClientTimeout.SockConnect"/>, <see cref="MaxResponseHeadersLength"/>,
    /// <see cref="ExpectContinueTimeout"/> and the certificate settings; no connection is counted
    /// (<see cref="ConnectorStats.OpenConnections"/> stays 0), and every request is traced as reusing a connection.
    /// </para>
    /// <para>
    /// The session's connector calls the factory whenever it builds its transport (when it is created, and after a
    /// reload that changes a connection setting or a limit), and disposes the handler once the last slot using it is
    /// released: return a new handler each time. On a shared connector this is the connector's
    /// <see cref="ConnectorOptions.TransportFactory"/>, never the session's.
    /// </para>
    /// </remarks>
    /// <value>None: the session's own <see cref="SocketsHttpHandler"/>.</value>
    public Func<ClientTransportContext, HttpMessageHandler>? TransportFactory
    {
        get => _transportFactory;
        set => Assign(ref _transportFactory, value, Assigned.TransportFactory);
    }

    /// <summary>Returns a deep copy of these options.</summary>
    public ClientSessionOptions Clone()
    {
        // Every setting is copied as it is (no list to forget one in), then what is mutable gets a copy of its own.
        var copy = (ClientSessionOptions)MemberwiseClone();
        copy.Headers = Headers is null ? null! : new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase);
        copy.Timeout = Timeout?.Clone()!;
        return copy;
    }

    /// <summary>
    /// Checks every setting and returns one message per bad one, each starting with the configuration key it concerns
    /// (<c>Limit</c>, <c>Timeout:Total</c>, ...). Empty when all are valid.
    /// </summary>
    public IReadOnlyList<string> Validate() => Validate(string.IsNullOrWhiteSpace(Connector) ? null : Connector);

    /// <summary>
    /// <see cref="Validate()"/> for a session on the shared connector <paramref name="sharedConnector"/> (none for a
    /// session that owns its connector): then setting a connection setting is an error too.
    /// </summary>
    internal List<string> Validate(string? sharedConnector)
    {
        List<string> errors = [];
        ConnectorOptions.ValidateLimits(errors, Limit, LimitPerHost, QueueLimit);
        if (Connector is { } connector && string.IsNullOrWhiteSpace(connector))
        {
            errors.Add("Connector must be the name of a shared connector, or null for a session that owns its connector; it is empty.");
        }

        if (sharedConnector is not null)
        {
            foreach (var (setting, key) in ConnectionSettings)
            {
                if ((_assigned & setting) != 0)
                {
                    errors.Add($"{key} shapes connections, which the session shares through connector '{sharedConnector}': set it on the connector, not on the session.");
                }
            }
        }

        if (BaseAddress is { } baseAddress)
        {
            if (!baseAddress.IsAbsoluteUri || (baseAddress.Scheme != Uri.UriSchemeHttp && baseAddress.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"BaseAddress must be an absolute http or https URL; it is '{UrlRedaction.Redact(baseAddress)}'.");
            }
            else if (!baseAddress.AbsolutePath.EndsWith('/'))
            {
                errors.Add($"BaseAddress must end its path with '/' so relative URLs join below it; it is '{UrlRedaction.Redact(baseAddress)}'.");
            }
        }

        if (Headers is null)
        {
            errors.Add("Headers must not be null.");
        }
        else
        {
            foreach (var (name, value) in Headers)
            {
                if (!HeaderValidation.IsValidName(name))
                {
                    errors.Add($"Headers:{name} is not a valid header name.");
                }
                else if (!HeaderValidation.IsValidValue(value))
                {
                    errors.Add($"Headers:{name} has a value with CR, LF or NUL, which could inject headers.");
                }
            }
        }

        if (Timeout is null)
        {
            errors.Add("Timeout must not be null; set its fields to null for no limit.");
        }
        else
        {
            errors.AddRange(Timeout.Validate("Timeout:"));
        }

        ConnectorOptions.ValidateConnections(errors, KeepAliveTimeout, DnsCacheTtl, MaxResponseHeadersLength, ExpectContinueTimeout);
        ConnectorOptions.ValidateProtocols(errors, Version, VersionPolicy, Proxy, HappyEyeballsDelay);
        if (MaxResponseContentBufferSize <= 0)
        {
            errors.Add($"MaxResponseContentBufferSize must be positive; it is {MaxResponseContentBufferSize}.");
        }

        if (MaxLineLength <= 0)
        {
            errors.Add($"MaxLineLength must be positive (characters); it is {MaxLineLength}.");
        }

        if (MaxRedirects < 0)
        {
            errors.Add($"MaxRedirects must be 0 (no redirects followed) or more; it is {MaxRedirects}.");
        }

        if (MaxDecompressedContentSize <= 0)
        {
            errors.Add($"MaxDecompressedContentSize must be positive; it is {MaxDecompressedContentSize}.");
        }

        return errors;
    }

    /// <summary>Decode compressed bodies up to this size; null leaves them encoded. A change builds a new pipeline.</summary>
    internal long? DecodeUpTo => AutoDecompress ? MaxDecompressedContentSize : null;

    /// <summary>The settings a connector the session owns is built from: its limits and connection settings.</summary>
    internal ConnectorOptions ToConnectorOptions() => ConnectorOptions.From(this);

    /// <summary>
    /// The session's own caps inside its connector's pool. A session that owns its connector has the connector's limits;
    /// one on a shared connector has no total cap of its own unless it set <see cref="Limit"/>.
    /// </summary>
    internal SessionCaps ToCaps(bool shared)
        => new(shared && (_assigned & Assigned.Limit) == 0 ? 0 : Limit, LimitPerHost, QueueLimit, Priority);

    private void Assign<T>(ref T field, T value, Assigned setting)
    {
        field = value;
        _assigned |= setting;
    }
}
