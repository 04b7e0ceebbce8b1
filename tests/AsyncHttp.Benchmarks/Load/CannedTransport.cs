using System.Net;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// A transport without a network, for measuring what a client's own code costs per request: it yields once, as the
/// wait for a socket would, then answers with the response nginx gives for <c>/small</c> in <c>run-load.sh</c> (13
/// bytes, and nginx's headers).
/// </summary>
internal sealed class CannedTransport : HttpMessageHandler
{
    private static readonly byte[] Body = "Hello, world!"u8.ToArray();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new ByteArrayContent(Body) };
        response.Headers.TryAddWithoutValidation("Server", "nginx/1.22.1");
        response.Headers.TryAddWithoutValidation("Date", "Wed, 02 Dec 2026 02:00:00 GMT");
        response.Headers.TryAddWithoutValidation("Connection", "keep-alive");
        response.Headers.TryAddWithoutValidation("ETag", "\"692d4a10-d\"");
        response.Headers.TryAddWithoutValidation("Accept-Ranges", "bytes");
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "text/plain");
        response.Content.Headers.TryAddWithoutValidation("Content-Length", "13");
        response.Content.Headers.TryAddWithoutValidation("Last-Modified", "Wed, 02 Dec 2026 01:00:00 GMT");
        return response;
    }
}
