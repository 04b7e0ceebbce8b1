namespace AsyncHttp;

/// <summary><see cref="ClientTimeout.Total"/> elapsed before the response was released.</summary>
public sealed class TotalTimeoutException : ClientTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="timeout">The value of the timeout.</param>
    /// <param name="innerException">The cancellation it caused, if any.</param>
    public TotalTimeoutException(TimeSpan timeout, Exception? innerException = null)
        : base(TimeoutKind.Total, timeout, "before the request and its body completed", innerException)
    {
    }
}
