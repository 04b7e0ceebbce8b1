namespace AsyncHttp;

/// <summary><see cref="ClientTimeout.SockConnect"/> elapsed during one TCP or TLS connect attempt.</summary>
public sealed class SocketConnectTimeoutException : ConnectTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="timeout">The value of the timeout.</param>
    /// <param name="innerException">The cancellation it caused, if any.</param>
    public SocketConnectTimeoutException(TimeSpan timeout, Exception? innerException = null)
        : base(TimeoutKind.SockConnect, timeout, "during a connect attempt", innerException)
    {
    }
}
