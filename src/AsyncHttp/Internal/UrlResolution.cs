namespace AsyncHttp.Internal;

/// <summary>Turns request URLs into absolute http(s) URLs, joining relative ones to the base address by RFC 3986.</summary>
internal static class UrlResolution
{
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
            : throw new ArgumentException($"'{url}' is not a valid URL.", nameof(url));
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
                ? throw new ArgumentException($"'{url.OriginalString}' is relative and the session has no BaseAddress.", nameof(url))
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

        var query = new System.Text.StringBuilder(url.Query.Length > 1 ? url.Query[1..] : string.Empty);
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
}
