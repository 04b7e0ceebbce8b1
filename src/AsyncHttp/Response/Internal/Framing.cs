namespace AsyncHttp.Internal;

/// <summary>
/// Checks how a response declares the length of its body, as it arrives from the transport (below the middlewares,
/// on every hop), and refuses one whose framing is ambiguous before anything reads it.
/// </summary>
internal static class Framing
{
    /// <summary>
    /// Refuses an HTTP/1.x response with both <c>Transfer-Encoding</c> and <c>Content-Length</c>: the transport follows
    /// Transfer-Encoding while a reader or a proxy may follow Content-Length, and the bytes they disagree on can pass for
    /// the next response (response smuggling; RFC 9112 section 6.3 asks to treat it as an error and close the
    /// connection, and aiohttp refuses it). The response is disposed and its connection closed, never reused.
    /// </summary>
    /// <param name="response">The response, just returned by the transport.</param>
    /// <param name="sentOn">The connection the request went out on, if it is known.</param>
    /// <exception cref="ClientPayloadException">The framing is ambiguous.</exception>
    public static void Check(HttpResponseMessage response, CountedNetworkStream? sentOn)
    {
        if (response.Version.Major != 1
            || !response.Headers.NonValidated.Contains("Transfer-Encoding")
            || !response.Content.Headers.NonValidated.Contains("Content-Length"))
        {
            return;
        }

        // Closed first, under the handler (which then finds it closed and does not reuse it): disposing the response
        // would otherwise drain the buffered body and give the connection back to the pool. HTTP/1.x only, where a
        // connection carries this one response.
        sentOn?.Dispose();
        response.Dispose();
        throw new ClientPayloadException(
            "The response has both Transfer-Encoding and Content-Length, so the length of its body is ambiguous; it is refused and its connection closed.",
            null,
            HttpRequestError.InvalidResponse);
    }
}
