namespace AsyncHttp;

/// <summary>The connector's wait queue already holds <see cref="ClientSessionOptions.QueueLimit"/> requests; this one was not queued.</summary>
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

    /// <summary>The session whose queue is full.</summary>
    public string SessionName { get; }

    /// <summary>The queue limit in force.</summary>
    public int QueueLimit { get; }
}
