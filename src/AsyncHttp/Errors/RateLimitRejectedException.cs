namespace AsyncHttp;

/// <summary>
/// A limiter of admission (<see cref="ClientSessionOptions.Limiters"/>, <see cref="ConnectorOptions.Limiters"/>) refused
/// the request a permit: its own queue was full, it had no queue and no permit, or a distributed limiter could not
/// reach its store and fails closed. The request was not sent.
/// </summary>
public class RateLimitRejectedException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="sessionName">The session whose request was refused.</param>
    /// <param name="reason">What the limiter said, if anything (its lease's <c>REASON_PHRASE</c>).</param>
    /// <param name="retryAfter">When the limiter suggests trying again (its lease's <c>RETRY_AFTER</c>), if it says.</param>
    /// <param name="innerException">What the limiter threw, if it threw.</param>
    public RateLimitRejectedException(string sessionName, string? reason = null, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(
            $"A rate limiter refused the request of session '{sessionName}' a permit{(reason is null ? "" : $" ({reason})")}; it was not sent."
                + (retryAfter is { } after ? $" Retry after {after}." : ""),
            innerException)
    {
        SessionName = sessionName;
        Reason = reason;
        RetryAfter = retryAfter;
    }

    /// <summary>The session whose request was refused.</summary>
    public string SessionName { get; }

    /// <summary>What the limiter said, if anything.</summary>
    public string? Reason { get; }

    /// <summary>When the limiter suggests trying again, if it says.</summary>
    public TimeSpan? RetryAfter { get; }
}
