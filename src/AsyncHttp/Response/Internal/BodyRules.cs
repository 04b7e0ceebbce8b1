namespace AsyncHttp.Internal;

/// <summary>Which responses have no body, whatever their headers declare (RFC 9110 §6.4.1).</summary>
internal static class BodyRules
{
    /// <summary>
    /// True for the response to a HEAD, a 1xx, 204 or 304, and a declared length of zero: the transport has pooled the
    /// connection already, and there is nothing to read.
    /// </summary>
    public static bool HasNoBody(HttpMethod method, HttpResponseMessage response)
        => HasNoBody(method, (int)response.StatusCode) || response.Content.Headers.ContentLength == 0;

    public static bool HasNoBody(HttpMethod method, int status)
        => method == HttpMethod.Head || status is < 200 or 204 or 304;
}
