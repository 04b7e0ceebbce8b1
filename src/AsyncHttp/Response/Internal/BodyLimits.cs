namespace AsyncHttp.Internal;

/// <summary>The errors of a body that passes a bound of the readers, in one place so each reader says it the same way.</summary>
internal static class BodyLimits
{
    /// <summary>A body larger than <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/>.</summary>
    public static ClientPayloadException TooLarge(long limit)
        => new(
            $"The response body is larger than MaxResponseContentBufferSize ({limit} bytes); read it as a stream instead.",
            null,
            HttpRequestError.ConfigurationLimitExceeded);

    /// <summary>A body within the cap but larger than one array can hold (<see cref="Array.MaxLength"/>).</summary>
    /// <param name="declared">The length the server declared, if it did.</param>
    public static ClientPayloadException TooLargeForArray(long? declared)
        => new(
            $"The response body{(declared is { } length ? $" ({length} bytes)" : string.Empty)} is larger than one array can hold "
            + $"({Array.MaxLength} bytes), whatever MaxResponseContentBufferSize allows; read it as a stream instead.",
            null,
            HttpRequestError.ConfigurationLimitExceeded);

    /// <summary>A line longer than <see cref="ClientSessionOptions.MaxLineLength"/>.</summary>
    public static ClientPayloadException LineTooLong(int maxLength)
        => new(
            $"A line of the response body is longer than MaxLineLength ({maxLength} characters); read the body as a stream instead.",
            null,
            HttpRequestError.ConfigurationLimitExceeded);
}
