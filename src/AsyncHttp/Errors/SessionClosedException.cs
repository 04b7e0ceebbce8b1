namespace AsyncHttp;

/// <summary>The session was closed while the request waited in its queue or was in flight.</summary>
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

    /// <summary>The session that was closed.</summary>
    public string SessionName { get; }
}
