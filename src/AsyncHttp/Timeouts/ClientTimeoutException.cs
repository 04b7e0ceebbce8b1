namespace AsyncHttp;

/// <summary>
/// The base of the timeout errors: says which <see cref="ClientTimeout"/> field fired and its value. The caller's
/// own <see cref="CancellationToken"/> never produces this; it produces <see cref="OperationCanceledException"/>.
/// </summary>
public abstract class ClientTimeoutException : ClientException
{
    private protected ClientTimeoutException(TimeoutKind kind, TimeSpan timeout, string what, Exception? innerException)
        : base($"The {kind} timeout of {timeout} elapsed {what}.", innerException)
    {
        Kind = kind;
        Timeout = timeout;
    }

    /// <summary>Which timeout fired.</summary>
    public TimeoutKind Kind { get; }

    /// <summary>The value of the timeout that fired.</summary>
    public TimeSpan Timeout { get; }
}
