using System.Text;

namespace AsyncHttp.Internal;

/// <summary>
/// Turns request URLs into absolute http(s) URLs, joining relative ones to the base address by RFC 3986, and moves
/// the credentials a URL carries (<c>user:password@</c>) into a Basic <c>Authorization</c> header, as aiohttp does,
/// so that no URL the session keeps, shows or logs holds them.
/// </summary>
internal static class UrlResolution
{
    private const string Authorization = "Authorization";

    public static Uri Parse(string url)
    {
        // On Unix "/items" parses as an absolute file URL; a request URL is only absolute with an http(s) scheme.
        if (Uri.TryCreate(url, UriKind.Absolute, out var absolute)
            && (absolute.Scheme == Uri.UriSchemeHttp || absolute.Scheme == Uri.UriSchemeHttps || !absolute.IsFile || url.StartsWith("file:", StringComparison.OrdinalIgnoreCase)))
        {
            return absolute;
        }

        return Uri.TryCreate(url, UriKind.Relative, out var relative)
            ? relative
            : throw new ArgumentException($"'{UrlRedaction.Redact(url)}' is not a valid URL.", nameof(url));
    }

    /// <summary>
    /// Sets the URL <paramref name="request"/> is sent to: resolved against the session's base address, with the
    /// per-request query appended, and its user info, if any, turned into the request's Basic authorization.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The URL is not http(s), is relative without a base address, or carries credentials while the request has an
    /// <c>Authorization</c> header of its own, of the call or of the session (as aiohttp refuses both at once).
    /// </exception>
    public static void Prepare(HttpRequestMessage request, ClientSessionOptions session, RequestOptions? options)
    {
        var url = AppendQuery(Resolve(request.RequestUri, session.BaseAddress), options?.Query);

        // '@' first: a cheap scan that spares the user-info lookup for almost every URL.
        if (url.OriginalString.Contains('@', StringComparison.Ordinal) && url.UserInfo is { Length: > 0 } userInfo)
        {
            if (request.Headers.NonValidated.Contains(Authorization) || session.Headers.ContainsKey(Authorization)
                || (options?.Headers?.Keys.Any(static k => k.Equals(Authorization, StringComparison.OrdinalIgnoreCase)) ?? false))
            {
                throw new ArgumentException(
                    "The URL carries credentials (user info) and the request has an Authorization header too; give one or the other.", nameof(request));
            }

            // RFC 7617: the user-id cannot hold a colon; the server would split the credentials elsewhere.
            var basic = BasicAuthorization(userInfo)
                ?? throw new ArgumentException("The user name in the URL's credentials contains ':', which Basic authentication cannot carry.", nameof(request));
            request.Headers.TryAddWithoutValidation(Authorization, basic);
            url = WithoutUserInfo(url);
        }

        request.RequestUri = url;
    }

    public static Uri Resolve(Uri? url, Uri? baseAddress)
    {
        if (url is null)
        {
            return baseAddress ?? throw new ArgumentException("The request has no URL and the session has no BaseAddress.", nameof(url));
        }

        if (!url.IsAbsoluteUri)
        {
            return baseAddress is null
                ? throw new ArgumentException($"'{UrlRedaction.Redact(url)}' is relative and the session has no BaseAddress.", nameof(url))
                : new Uri(baseAddress, url);
        }

        if (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"'{UrlRedaction.Redact(url)}' is not an http or https URL.", nameof(url));
        }

        return url;
    }

    /// <summary>Appends escaped query parameters to those <paramref name="url"/> already has.</summary>
    public static Uri AppendQuery(Uri url, IEnumerable<KeyValuePair<string, string?>>? parameters)
    {
        if (parameters is null)
        {
            return url;
        }

        var query = new StringBuilder(url.Query.Length > 1 ? url.Query[1..] : string.Empty);
        foreach (var (name, value) in parameters)
        {
            ArgumentException.ThrowIfNullOrEmpty(name, nameof(parameters));
            query.Append(query.Length > 0 ? "&" : string.Empty).Append(Uri.EscapeDataString(name));
            if (value is not null)
            {
                query.Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        return new UriBuilder(url) { Query = query.ToString() }.Uri;
    }

    /// <summary><paramref name="url"/> without its user info; the same instance when it has none.</summary>
    public static Uri WithoutUserInfo(Uri url)
        => url.IsAbsoluteUri && url.UserInfo.Length > 0
            ? new Uri(url.GetComponents(UriComponents.AbsoluteUri & ~UriComponents.UserInfo, UriFormat.UriEscaped))
            : url;

    /// <summary>
    /// The Basic credentials of RFC 7617 (UTF-8) from a URL's escaped user info, <c>user[:password]</c>; null when the
    /// decoded user name holds a colon.
    /// </summary>
    internal static string? BasicAuthorization(string userInfo)
    {
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? string.Empty : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        return user.Contains(':', StringComparison.Ordinal) ? null : "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
    }
}
