namespace AsyncHttp;

/// <summary>
/// <see cref="ClientTimeout.Connect"/> elapsed while a hop of the request waited in the queue or for a new connection
/// (DNS, TCP, TLS).
/// </summary>
public class ConnectTimeoutException : ClientTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="timeout">The value of the timeout.</param>
    /// <param name="innerException">The cancellation it caused, if any.</param>
    public ConnectTimeoutException(TimeSpan timeout, Exception? innerException = null)
        : base(TimeoutKind.Connect, timeout, "while waiting for a connection (queue wait and connect)", innerException)
    {
    }

    private protected ConnectTimeoutException(TimeoutKind kind, TimeSpan timeout, string what, Exception? innerException)
        : base(kind, timeout, what, innerException)
    {
    }
}
