namespace AsyncHttp;

/// <summary>The session, or the connector it draws on, was closed while the request waited in the queue or was in flight.</summary>
public class SessionClosedException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="sessionName">The session that was closed.</param>
    /// <param name="innerException">The transport's error, if the request was aborted in flight.</param>
    public SessionClosedException(string sessionName, Exception? innerException = null)
        : base($"Session '{sessionName}' was closed before the request completed.", innerException)
    {
        SessionName = sessionName;
    }

    /// <summary>The request's connector was closed under its session: the message names both.</summary>
    internal SessionClosedException(string sessionName, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        SessionName = sessionName;
    }

    /// <summary>The session whose request it was: the session closed, or its connector.</summary>
    public string SessionName { get; }
}
