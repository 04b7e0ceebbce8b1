namespace AsyncHttp;

/// <summary>
/// The response body could not be read as asked: it was incomplete (the connection ended during it; the
/// <see cref="ServerDisconnectedException"/> is the inner exception), malformed, ambiguously framed, larger than a
/// configured bound, or not of the expected type.
/// </summary>
public class ClientPayloadException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The transport's error, if any.</param>
    /// <param name="error">The category of the error.</param>
    public ClientPayloadException(string message, Exception? innerException = null, HttpRequestError error = HttpRequestError.InvalidResponse)
        : base(message, innerException, error)
    {
    }
}
