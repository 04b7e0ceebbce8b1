namespace AsyncHttp;

/// <summary>
/// The connector's wait queue already holds <see cref="ConnectorOptions.QueueLimit"/> requests, or the session's share
/// of it <see cref="ClientSessionOptions.QueueLimit"/>; this one was not queued.
/// </summary>
public class QueueFullException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="sessionName">The session whose queue is full.</param>
    /// <param name="queueLimit">The queue limit.</param>
    public QueueFullException(string sessionName, int queueLimit)
        : base($"The wait queue of session '{sessionName}' is full ({queueLimit} waiting); the request was rejected without waiting.")
    {
        SessionName = sessionName;
        QueueLimit = queueLimit;
    }

    /// <summary>The connector's queue is full, all its sessions together: the message names the connector.</summary>
    internal QueueFullException(string sessionName, int queueLimit, string message)
        : base(message)
    {
        SessionName = sessionName;
        QueueLimit = queueLimit;
    }

    /// <summary>The session whose request was rejected.</summary>
    public string SessionName { get; }

    /// <summary>The queue limit in force.</summary>
    public int QueueLimit { get; }
}
