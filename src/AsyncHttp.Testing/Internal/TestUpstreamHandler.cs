using System.Net;

namespace AsyncHttp.Testing.Internal;

/// <summary>
/// A connector's transport that answers from a <see cref="TestUpstream"/>: it receives each admitted request (of
/// whichever session on the connector sent it), waits on the connector's clock, and returns the route's response, or
/// fails as a broken connection does.
/// </summary>
internal sealed class TestUpstreamHandler(TestUpstream upstream, ClientTransportContext context) : HttpMessageHandler
{
    // As SocketsHttpHandler: a request without a body whose connection fails before any response byte is sent again,
    // up to this many times (its MaxConnectionFailureRetries).
    private const int RetriesWithoutBody = 3;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var received = await TestRequest.ReceiveAsync(request, context.GetSessionName(request), cancellationToken).ConfigureAwait(false);
            var response = upstream.Answer(received);

            // The wait starts before the arrival is announced: a test that awaits the arrival and then advances its
            // clock moves this wait too.
            var headers = Delay(response.HeadersDelay, context.TimeProvider, cancellationToken);
            upstream.Received(received);
            await headers.ConfigureAwait(false);

            if (response.Fault == TestFault.None || response.FaultAfterBodyBytes is not null)
            {
                return Build(request, response);
            }

            if (request.Content is not null || attempt == RetriesWithoutBody)
            {
                throw Faults.BeforeHeaders(response.Fault);
            }
        }
    }

    /// <summary>A wait on <paramref name="time"/>; none for zero, until cancelled for an infinite one.</summary>
    public static Task Delay(TimeSpan delay, TimeProvider time, CancellationToken cancellationToken)
        => delay == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, time, cancellationToken);

    private HttpResponseMessage Build(HttpRequestMessage request, TestResponse response)
    {
        // A HEAD request, and a 204 or 304 response, have no body whatever their headers say, as on the wire.
        var bodiless = request.Method == HttpMethod.Head || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified;
        var content = new TestContent(response, bodiless, context.TimeProvider);
        var message = new HttpResponseMessage(response.StatusCode)
        {
            RequestMessage = request,
            Version = HttpVersion.Version11,
            Content = content,
        };

        if (response.ContentType is { } contentType)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        foreach (var (name, value) in response.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (response.DeclaresLength && response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotModified))
        {
            content.Headers.ContentLength = response.Body.Length;
        }

        return message;
    }
}
