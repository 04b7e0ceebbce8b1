namespace AsyncHttp;

/// <summary>Shows URLs in messages and logs without their query string or user info, which often carry secrets.</summary>
internal static class UrlRedaction
{
    public static string Redact(Uri? uri)
    {
        if (uri is null)
        {
            return "(no URL)";
        }

        if (!uri.IsAbsoluteUri)
        {
            var text = uri.OriginalString;
            var q = text.IndexOf('?', StringComparison.Ordinal);
            return q < 0 ? text : string.Concat(text.AsSpan(0, q), "?*");
        }

        var left = uri.GetComponents(UriComponents.Scheme | UriComponents.HostAndPort | UriComponents.Path, UriFormat.UriEscaped);
        return string.IsNullOrEmpty(uri.Query) ? left : left + "?*";
    }
}
