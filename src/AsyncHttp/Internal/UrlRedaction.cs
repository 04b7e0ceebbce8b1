namespace AsyncHttp;

/// <summary>
/// Shows URLs in messages and logs without what often carries a secret: the user info (<c>user:password@</c>), the
/// query string (shown as <c>?*</c>) and the fragment. Only http and https URLs keep their host and path; of another
/// scheme, whose parts .NET may not split (an ftp query is part of its path, a <c>custom:token</c> is all path), only
/// a well-known scheme name is shown.
/// </summary>
internal static class UrlRedaction
{
    private static readonly HashSet<string> WellKnownSchemes = new(StringComparer.OrdinalIgnoreCase)
    {
        Uri.UriSchemeFile, Uri.UriSchemeFtp, Uri.UriSchemeFtps, Uri.UriSchemeGopher, Uri.UriSchemeMailto,
        Uri.UriSchemeNetPipe, Uri.UriSchemeNetTcp, Uri.UriSchemeNews, Uri.UriSchemeNntp, Uri.UriSchemeSftp,
        Uri.UriSchemeSsh, Uri.UriSchemeTelnet, Uri.UriSchemeWs, Uri.UriSchemeWss,
    };

    public static string Redact(Uri? uri)
    {
        if (uri is null)
        {
            return "(no URL)";
        }

        if (!uri.IsAbsoluteUri)
        {
            return Redact(uri.OriginalString);
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return OtherScheme(uri.Scheme);
        }

        var left = uri.GetComponents(UriComponents.Scheme | UriComponents.HostAndPort | UriComponents.Path, UriFormat.UriEscaped);
        return string.IsNullOrEmpty(uri.Query) ? left : left + "?*";
    }

    /// <summary>Redacts text meant as a URL, which may not parse as one (a bad port, a relative reference).</summary>
    public static string Redact(string? text)
    {
        if (text is null)
        {
            return "(no URL)";
        }

        var end = text.AsSpan().IndexOfAny('?', '#');
        var hasQuery = end >= 0 && text[end] == '?';
        var head = end < 0 ? text : text[..end];

        var colon = head.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon > 0 ? head[..colon] : null;
        var hierarchical = colon > 0 && head.AsSpan(colon).StartsWith("://", StringComparison.Ordinal);
        if (scheme is not null && Uri.CheckSchemeName(scheme)
            && !scheme.Equals(Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase) && !scheme.Equals(Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase))
        {
            return OtherScheme(scheme);
        }

        var authority = hierarchical ? colon + 3 : head.StartsWith("//", StringComparison.Ordinal) ? 2 : -1;
        if (authority >= 0)
        {
            var authorityEnd = head.IndexOf('/', authority);
            var at = head.AsSpan(authority, (authorityEnd < 0 ? head.Length : authorityEnd) - authority).LastIndexOf('@');
            if (at >= 0)
            {
                head = string.Concat(head.AsSpan(0, authority), head.AsSpan(authority + at + 1));
            }
        }

        return hasQuery ? head + "?*" : head;
    }

    private static string OtherScheme(string scheme) => WellKnownSchemes.Contains(scheme) ? scheme + ":*" : "*";
}
