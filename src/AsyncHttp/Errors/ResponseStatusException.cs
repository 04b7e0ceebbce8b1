using System.Net;
using System.Net.Http.Headers;

namespace AsyncHttp;

/// <summary>
/// The response has a status the caller did not accept: raised by <see cref="ClientResponse.EnsureSuccessStatusCode"/>
/// for any status outside 200 to 299, and by <see cref="ClientSessionOptions.RaiseForStatus"/> for 400 or above.
/// </summary>
public class ResponseStatusException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="statusCode">The response status.</param>
    /// <param name="reasonPhrase">The response reason phrase.</param>
    /// <param name="requestUri">The URL of the response.</param>
    /// <param name="method">The request method.</param>
    /// <param name="headers">The response headers.</param>
    /// <param name="history">The redirect responses that led to this one, oldest first.</param>
    public ResponseStatusException(
        HttpStatusCode statusCode,
        string? reasonPhrase,
        Uri requestUri,
        HttpMethod method,
        HttpResponseHeaders headers,
        IReadOnlyList<RedirectHop>? history = null)
        : base($"{method} {UrlRedaction.Redact(requestUri)} returned {(int)statusCode} {reasonPhrase}.", null, HttpRequestError.Unknown, statusCode)
    {
        ArgumentNullException.ThrowIfNull(requestUri);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(headers);
        ReasonPhrase = reasonPhrase;
        RequestUri = requestUri;
        Method = method;
        Headers = headers;
        History = history ?? [];
    }

    /// <summary>The response reason phrase.</summary>
    public string? ReasonPhrase { get; }

    /// <summary>The URL of the response.</summary>
    public Uri RequestUri { get; }

    /// <summary>The request method.</summary>
    public HttpMethod Method { get; }

    /// <summary>The response headers.</summary>
    public HttpResponseHeaders Headers { get; }

    /// <summary>The redirects that led to this response, oldest first.</summary>
    public IReadOnlyList<RedirectHop> History { get; }
}
