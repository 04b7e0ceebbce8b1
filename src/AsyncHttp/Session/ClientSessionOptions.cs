using System.Net.Security;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// The settings of a <see cref="ClientSession"/>, flat so that <c>o =&gt; o.Limit = 0</c> works and so that they bind
/// from configuration. A session takes a copy when it is created; later changes to this object do not affect it.
/// </summary>
public sealed class ClientSessionOptions
{
    /// <summary>The most requests in flight at once across all hosts; 0 means no limit.</summary>
    /// <value>100.</value>
    public int Limit { get; set; } = ClientSessionDefaults.Limit;

    /// <summary>The most requests in flight at once to one host (scheme, host and port); 0 means no limit.</summary>
    /// <value>0 (none).</value>
    public int LimitPerHost { get; set; } = ClientSessionDefaults.LimitPerHost;

    /// <summary>
    /// The most requests that may wait in the queue; a request beyond it fails at once with
    /// <see cref="QueueFullException"/>. 0 means unbounded.
    /// </summary>
    /// <value>0 (unbounded).</value>
    public int QueueLimit { get; set; } = ClientSessionDefaults.QueueLimit;

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
    public TimeSpan KeepAliveTimeout { get; set; } = ClientSessionDefaults.KeepAliveTimeout;

    /// <summary>Close each connection after its response instead of keeping it for reuse.</summary>
    /// <value><see langword="false"/>.</value>
    public bool ForceClose { get; set; }

    /// <summary>How long a resolved host name is reused for new connections; zero turns the cache off.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan DnsCacheTtl { get; set; } = ClientSessionDefaults.DnsCacheTtl;

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
    public int MaxResponseHeadersLength { get; set; } = ClientSessionDefaults.MaxResponseHeadersLength;

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
    /// <see cref="SocketsHttpHandler.Expect100ContinueTimeout"/>.
    /// </summary>
    /// <value>1 second.</value>
    public TimeSpan ExpectContinueTimeout { get; set; } = ClientSessionDefaults.ExpectContinueTimeout;

    /// <summary>
    /// Accept any server certificate over https. Only for tests against a self-signed server: it turns off the
    /// protection TLS gives.
    /// </summary>
    /// <value><see langword="false"/>: certificates are validated.</value>
    public bool DangerousAcceptAnyServerCertificate { get; set; }

    /// <summary>A custom server certificate validation, instead of the platform's (code only; not bound from configuration).</summary>
    /// <value>None: the platform validates.</value>
    public RemoteCertificateValidationCallback? ServerCertificateValidationCallback { get; set; }

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
    /// The session calls the factory whenever it builds its pipeline (when it is created, and after a reload that
    /// changes a transport setting), and disposes the handler with the pipeline: return a new handler each time.
    /// </para>
    /// </remarks>
    /// <value>None: the session's own <see cref="SocketsHttpHandler"/>.</value>
    public Func<ClientTransportContext, HttpMessageHandler>? TransportFactory { get; set; }

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
    public IReadOnlyList<string> Validate()
    {
        List<string> errors = [];
        if (Limit < 0)
        {
            errors.Add($"Limit must be 0 (no limit) or more; it is {Limit}.");
        }

        if (LimitPerHost < 0)
        {
            errors.Add($"LimitPerHost must be 0 (no limit) or more; it is {LimitPerHost}.");
        }

        if (QueueLimit < 0)
        {
            errors.Add($"QueueLimit must be 0 (unbounded) or more; it is {QueueLimit}.");
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

        if (KeepAliveTimeout < TimeSpan.Zero)
        {
            errors.Add($"KeepAliveTimeout must not be negative; it is {KeepAliveTimeout}.");
        }

        if (ExpectContinueTimeout < TimeSpan.Zero || ExpectContinueTimeout > ClientSessionDefaults.MaxExpectContinueTimeout)
        {
            errors.Add($"ExpectContinueTimeout must be between 00:00:00 and {ClientSessionDefaults.MaxExpectContinueTimeout}; it is {ExpectContinueTimeout}.");
        }

        if (DnsCacheTtl < TimeSpan.Zero)
        {
            errors.Add($"DnsCacheTtl must not be negative; it is {DnsCacheTtl}.");
        }

        if (MaxResponseHeadersLength <= 0)
        {
            errors.Add($"MaxResponseHeadersLength must be positive (KiB); it is {MaxResponseHeadersLength}.");
        }

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

    /// <summary>The settings the transport and admission are built from: a change in them needs a new pipeline.</summary>
    internal TransportSettings ToTransportSettings() => TransportSettings.From(this);
}
