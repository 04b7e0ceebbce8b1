namespace AsyncHttp;

/// <summary>One moment of a request, as given to a <see cref="ClientTrace"/> callback.</summary>
/// <param name="Kind">Which moment.</param>
/// <param name="Session">The session's name.</param>
/// <param name="Method">The request method, when the moment belongs to a request.</param>
/// <param name="Url">The request URL (for a redirect, the URL redirected from).</param>
/// <param name="Host">The host concerned (connection and DNS moments).</param>
/// <param name="StatusCode">The response status (end and redirect).</param>
/// <param name="Exception">The error (exception).</param>
/// <param name="Elapsed">How long the phase that ends here took (queue wait, connect, DNS, request to headers).</param>
public sealed record ClientTraceEvent(
    TraceEventKind Kind,
    string Session,
    HttpMethod? Method = null,
    Uri? Url = null,
    string? Host = null,
    int? StatusCode = null,
    Exception? Exception = null,
    TimeSpan? Elapsed = null);
