namespace AsyncHttp;

/// <summary>
/// <see cref="ClientTimeout.SockConnect"/> elapsed while a connection was being established: its address attempts or
/// its TLS handshake.
/// </summary>
public sealed class SocketConnectTimeoutException : ConnectTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="timeout">The value of the timeout.</param>
    /// <param name="innerException">The cancellation it caused, if any.</param>
    public SocketConnectTimeoutException(TimeSpan timeout, Exception? innerException = null)
        : base(TimeoutKind.SockConnect, timeout, "while establishing a connection (address attempts and TLS handshake)", innerException)
    {
    }
}
