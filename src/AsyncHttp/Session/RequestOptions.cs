namespace AsyncHttp;

/// <summary>Settings for one request; each one left unset takes the session's.</summary>
public sealed class RequestOptions
{
    /// <summary>Headers for this request; each replaces a session default header of the same name.</summary>
    public IDictionary<string, string>? Headers { get; set; }

    /// <summary>Timeouts for this request, replacing the session's <see cref="ClientSessionOptions.Timeout"/> as a whole.</summary>
    public ClientTimeout? Timeout { get; set; }

    /// <summary>Follow redirects; unset follows them (up to <see cref="ClientSessionOptions.MaxRedirects"/>).</summary>
    public bool? AllowRedirects { get; set; }

    /// <summary>Cookies sent with this request only, besides those of the session's jar; they are not stored.</summary>
    public IDictionary<string, string>? Cookies { get; set; }

    /// <summary>Query parameters appended to those the URL already has (names and values are escaped).</summary>
    public IEnumerable<KeyValuePair<string, string?>>? Query { get; set; }

    /// <summary>Throw <see cref="ResponseStatusException"/> for status 400 or above; unset takes <see cref="ClientSessionOptions.RaiseForStatus"/>.</summary>
    public bool? RaiseForStatus { get; set; }

    /// <summary>
    /// Send a request that has a body with <c>Expect: 100-continue</c>, so that a server which refuses it (a
    /// <c>413</c>, a <c>401</c>) answers before the body is sent, and its answer reaches the caller as a response; unset
    /// takes <see cref="ClientSessionOptions.ExpectContinue"/>. A request without a body never sends it.
    /// </summary>
    public bool? ExpectContinue { get; set; }

    /// <summary>
    /// The HTTP version this request asks for (<c>2.0</c> for HTTP/2), instead of the connector's
    /// <see cref="ConnectorOptions.Version"/>; unset takes the connector's, as does an <see cref="HttpRequestMessage"/>
    /// left at its default version and policy. Redirect hops keep it.
    /// </summary>
    public Version? Version { get; set; }

    /// <summary>How <see cref="Version"/> is negotiated for this request; unset takes the connector's <see cref="ConnectorOptions.VersionPolicy"/>.</summary>
    public HttpVersionPolicy? VersionPolicy { get; set; }
}
