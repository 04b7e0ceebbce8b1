using System.Text;

namespace AsyncHttp.Testing;

/// <summary>
/// A request as a <see cref="TestUpstream"/> received it, once the session had admitted it: what went over the wire,
/// copied, so that keeping it keeps no response or session alive.
/// </summary>
public sealed class TestRequest
{
    internal TestRequest(string sessionName, HttpMethod method, Uri url, IReadOnlyDictionary<string, string> headers, ReadOnlyMemory<byte> body)
    {
        SessionName = sessionName;
        Method = method;
        Url = url;
        Headers = headers;
        Body = body;
    }

    /// <summary>The name of the session that sent it.</summary>
    public string SessionName { get; }

    /// <summary>The method.</summary>
    public HttpMethod Method { get; }

    /// <summary>The absolute URL, with its query.</summary>
    public Uri Url { get; }

    /// <summary>
    /// The request and content headers by name (case-insensitive); the values of a header sent more than once are
    /// joined with <c>", "</c>, or <c>"; "</c> for <c>Cookie</c>.
    /// </summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The body; empty when the request had none.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>The body decoded as UTF-8.</summary>
    public string BodyAsString() => Encoding.UTF8.GetString(Body.Span);

    /// <inheritdoc/>
    public override string ToString() => $"{Method} {Url}";

    /// <summary>Copies what a server would receive of <paramref name="request"/>, reading its body.</summary>
    internal static async Task<TestRequest> ReceiveAsync(HttpRequestMessage request, string sessionName, CancellationToken cancellationToken)
    {
        var url = request.RequestUri ?? throw new InvalidOperationException("The request has no URL.");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        Copy(request.Headers.NonValidated, headers);
        ReadOnlyMemory<byte> body = ReadOnlyMemory<byte>.Empty;
        if (request.Content is { } content)
        {
            Copy(content.Headers.NonValidated, headers);
            body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }

        return new TestRequest(sessionName, request.Method, url, headers, body);
    }

    private static void Copy(System.Net.Http.Headers.HttpHeadersNonValidated source, Dictionary<string, string> target)
    {
        foreach (var (name, values) in source)
        {
            var separator = name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) ? "; " : ", ";
            var value = string.Join(separator, values);
            target[name] = target.TryGetValue(name, out var earlier) ? earlier + separator + value : value;
        }
    }
}
