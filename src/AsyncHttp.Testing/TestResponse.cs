using System.Net;
using System.Text;

namespace AsyncHttp.Testing;

/// <summary>
/// What a <see cref="TestUpstream"/> route answers: a status, headers and a body, and how the server delivers them
/// (delays on the session's clock, a body in chunks, a fault). Start from a factory (<see cref="Text"/>,
/// <see cref="Json"/>, ...) and adjust with a <c>with</c> expression:
/// <c>TestResponse.Text("ok") with { HeadersDelay = TimeSpan.FromSeconds(10) }</c>.
/// </summary>
public sealed record TestResponse
{
    /// <summary>The status code.</summary>
    /// <value>200 OK.</value>
    public HttpStatusCode StatusCode { get; init; } = HttpStatusCode.OK;

    /// <summary>The body.</summary>
    /// <value>Empty.</value>
    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>The Content-Type of the body, if any.</summary>
    /// <value>None.</value>
    public string? ContentType { get; init; }

    /// <summary>
    /// Further headers by name, response or content headers alike (<c>Location</c>, <c>Set-Cookie</c>,
    /// <c>Content-Encoding</c>, ...). A value with commas is one header line.
    /// </summary>
    /// <value>None.</value>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Whether the response declares the body's length (<c>Content-Length</c>); without it the body ends when the server
    /// stops sending, as with chunked transfer encoding.
    /// </summary>
    /// <value><see langword="true"/>.</value>
    public bool DeclaresLength { get; init; } = true;

    /// <summary>
    /// How long the server takes before it sends the headers, on the session's clock (a test's
    /// <c>FakeTimeProvider</c> moves it). <see cref="Timeout.InfiniteTimeSpan"/>: never, until the request is cancelled
    /// or times out.
    /// </summary>
    /// <value>Zero.</value>
    public TimeSpan HeadersDelay { get; init; }

    /// <summary>
    /// The size of the chunks the body is sent in; 0 sends it whole. With <see cref="ChunkDelay"/>, the server waits
    /// between chunks.
    /// </summary>
    /// <value>0.</value>
    public int ChunkSize { get; init; }

    /// <summary>
    /// How long the server waits between two chunks of the body (not before the first), on the session's clock.
    /// <see cref="Timeout.InfiniteTimeSpan"/>: the body stalls after its first chunk.
    /// </summary>
    /// <value>Zero.</value>
    public TimeSpan ChunkDelay { get; init; }

    /// <summary>How the server breaks the connection, if it does.</summary>
    /// <value><see cref="TestFault.None"/>.</value>
    public TestFault Fault { get; init; }

    /// <summary>
    /// Where <see cref="Fault"/> strikes: <see langword="null"/> in place of the headers (after
    /// <see cref="HeadersDelay"/>), or after the headers and this many bytes of the body.
    /// </summary>
    /// <value><see langword="null"/>: before the headers.</value>
    public long? FaultAfterBodyBytes { get; init; }

    /// <summary>A text body, UTF-8, <c>text/plain</c>.</summary>
    /// <param name="text">The body.</param>
    /// <param name="statusCode">The status code.</param>
    public static TestResponse Text(string text, HttpStatusCode statusCode = HttpStatusCode.OK)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new() { StatusCode = statusCode, Body = Encoding.UTF8.GetBytes(text), ContentType = "text/plain; charset=utf-8" };
    }

    /// <summary>A JSON body, UTF-8, <c>application/json</c>.</summary>
    /// <param name="json">The JSON document, as text.</param>
    /// <param name="statusCode">The status code.</param>
    public static TestResponse Json(string json, HttpStatusCode statusCode = HttpStatusCode.OK)
    {
        ArgumentNullException.ThrowIfNull(json);
        return new() { StatusCode = statusCode, Body = Encoding.UTF8.GetBytes(json), ContentType = "application/json; charset=utf-8" };
    }

    /// <summary>A body of bytes.</summary>
    /// <param name="body">The body.</param>
    /// <param name="contentType">Its Content-Type.</param>
    /// <param name="statusCode">The status code.</param>
    public static TestResponse Bytes(ReadOnlyMemory<byte> body, string contentType = "application/octet-stream", HttpStatusCode statusCode = HttpStatusCode.OK)
        => new() { StatusCode = statusCode, Body = body, ContentType = contentType };

    /// <summary>A response with a status and no body.</summary>
    /// <param name="statusCode">The status code.</param>
    public static TestResponse Status(HttpStatusCode statusCode) => new() { StatusCode = statusCode };

    /// <summary>A redirect to <paramref name="location"/> (which the session follows, unless told not to).</summary>
    /// <param name="location">The <c>Location</c> header: an absolute URL, or one relative to the request's.</param>
    /// <param name="statusCode">A 3xx status code.</param>
    public static TestResponse Redirect(string location, HttpStatusCode statusCode = HttpStatusCode.Found)
    {
        ArgumentException.ThrowIfNullOrEmpty(location);
        return new() { StatusCode = statusCode, Headers = new Dictionary<string, string> { ["Location"] = location } };
    }

    /// <summary>No response: the server breaks the connection before the headers.</summary>
    /// <param name="fault">How it breaks it.</param>
    public static TestResponse Failure(TestFault fault) => new() { Fault = fault };
}
