namespace AsyncHttp;

/// <summary>
/// The server closed or reset the connection before the response headers were complete. During the body the request
/// fails with <see cref="ClientPayloadException"/> instead, with this exception inside.
/// </summary>
public class ServerDisconnectedException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The transport's error.</param>
    public ServerDisconnectedException(string message, Exception? innerException = null)
        : base(message, innerException, HttpRequestError.ResponseEnded)
    {
    }
}
