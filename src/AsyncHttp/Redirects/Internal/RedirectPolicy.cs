using System.Net;

namespace AsyncHttp.Internal;

/// <summary>How the session follows a redirect: which responses are redirects and what the next request looks like.</summary>
internal static class RedirectPolicy
{
    /// <summary>
    /// The Location of a redirect response resolved against its URL, without user info, or null when it is not one to
    /// follow.
    /// </summary>
    /// <exception cref="ClientException">The Location is not a URL (the server's answer is invalid).</exception>
    public static Uri? GetLocation(HttpRequestMessage request, HttpResponseMessage response)
    {
        if (response.StatusCode is not (HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect))
        {
            return null;
        }

        var location = response.Headers.Location;
        if (location is null)
        {
            return null;
        }

        if (!location.IsAbsoluteUri && !Uri.TryCreate(request.RequestUri!, location, out location))
        {
            // The value is not shown: it cannot be parsed, so it cannot be redacted either.
            throw new ClientException(
                $"The server answered {(int)response.StatusCode} to {UrlRedaction.Redact(request.RequestUri)} with a redirect whose Location is not a valid URL.",
                null,
                HttpRequestError.InvalidResponse);
        }

        // Credentials a server wrote into a Location are dropped, not sent: no URL the session keeps holds them.
        return location.Scheme == Uri.UriSchemeHttp || location.Scheme == Uri.UriSchemeHttps ? UrlResolution.WithoutUserInfo(location) : null;
    }

    /// <summary>
    /// The request for the next hop: 303 (and 301/302 after POST) become GET without a body, 307/308 keep method and
    /// body; credentials are dropped when the hop leaves the origin. Cookies are set per hop by the session.
    /// </summary>
    public static HttpRequestMessage Next(HttpRequestMessage previous, HttpStatusCode status, Uri location)
    {
        var method = previous.Method;
        var toGet = (status == HttpStatusCode.SeeOther && method != HttpMethod.Head)
            || (status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found && method == HttpMethod.Post);
        var next = new HttpRequestMessage(toGet ? HttpMethod.Get : method, location)
        {
            Version = previous.Version,
            VersionPolicy = previous.VersionPolicy,
            Content = toGet ? null : previous.Content,
        };

        var crossOrigin = !SameOrigin(previous.RequestUri!, location);
        foreach (var header in previous.Headers.NonValidated)
        {
            if (header.Key.Equals("Host", StringComparison.OrdinalIgnoreCase)
                || header.Key.Equals("Cookie", StringComparison.OrdinalIgnoreCase)
                || (crossOrigin && IsCredential(header.Key))
                || (toGet && header.Key.Equals("Expect", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            next.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return next;
    }

    public static bool SameOrigin(Uri a, Uri b)
        => string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    private static bool IsCredential(string name)
        => name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase);
}
