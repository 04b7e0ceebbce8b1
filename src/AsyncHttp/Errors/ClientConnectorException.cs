namespace AsyncHttp;

/// <summary>A connection to the server could not be made: the name did not resolve, or the connect was refused or failed.</summary>
public class ClientConnectorException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The socket or DNS error.</param>
    /// <param name="error">Usually <see cref="HttpRequestError.ConnectionError"/> or <see cref="HttpRequestError.NameResolutionError"/>.</param>
    public ClientConnectorException(string message, Exception? innerException = null, HttpRequestError error = HttpRequestError.ConnectionError)
        : base(message, innerException, error)
    {
    }
}
