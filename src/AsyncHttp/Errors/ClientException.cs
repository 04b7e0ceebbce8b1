namespace AsyncHttp;

/// <summary>
/// The base of every error AsyncHttp raises for a request. It derives from <see cref="HttpRequestException"/>,
/// so resilience predicates written for <see cref="HttpClient"/> (Polly, Microsoft.Extensions.Http.Resilience)
/// see these errors too.
/// </summary>
public class ClientException : HttpRequestException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The transport's error, if any.</param>
    /// <param name="error">The category of the error.</param>
    /// <param name="statusCode">The response status, when there was one.</param>
    public ClientException(
        string message,
        Exception? innerException = null,
        HttpRequestError error = HttpRequestError.Unknown,
        System.Net.HttpStatusCode? statusCode = null)
        : base(error, message, innerException, statusCode)
    {
    }
}
