namespace AsyncHttp;

/// <summary>The response body is not of the content type the reader expects (for example JSON read from an HTML error page).</summary>
public sealed class ContentTypeException : ClientPayloadException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="expected">What the reader expects, such as <c>application/json</c>.</param>
    /// <param name="actual">The response's Content-Type, if it had one.</param>
    public ContentTypeException(string expected, string? actual)
        : base($"Expected a response of type {expected}, but its Content-Type is '{actual ?? "(none)"}'.")
    {
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The content type the reader expects.</summary>
    public string Expected { get; }

    /// <summary>The response's Content-Type, if it had one.</summary>
    public string? Actual { get; }
}
