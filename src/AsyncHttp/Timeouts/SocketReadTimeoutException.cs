namespace AsyncHttp;

/// <summary><see cref="ClientTimeout.SockRead"/> elapsed while waiting for the response headers or for the next body chunk.</summary>
public sealed class SocketReadTimeoutException : ClientTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="timeout">The value of the timeout.</param>
    /// <param name="innerException">The cancellation it caused, if any.</param>
    public SocketReadTimeoutException(TimeSpan timeout, Exception? innerException = null)
        : base(TimeoutKind.SockRead, timeout, "while waiting for data from the server", innerException)
    {
    }
}
