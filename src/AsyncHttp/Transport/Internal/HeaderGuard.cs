using System.Net.Http.Headers;

namespace AsyncHttp.Internal;

/// <summary>
/// The last stage before the wire, wrapping the transport: refuses a request with CR, LF or NUL in any header value,
/// however the header got there (the request message or its content as the caller built them, a middleware, a redirect
/// hop), so that no header can be split into two on the wire. Every path a request takes (the session's own first hop,
/// the middleware pipeline, redirect hops, the idempotent retry) ends here.
/// </summary>
/// <remarks>
/// The refusal is an <see cref="ArgumentException"/>, as for a bad per-request header: the request is malformed and
/// sending it again cannot help, so it is not an <see cref="HttpRequestException"/> that resilience predicates would
/// treat as transient. The scan reads the headers as stored (<see cref="HttpHeaders.NonValidated"/>), which allocates
/// nothing for values added as strings, the only kind the session adds itself.
/// </remarks>
internal sealed class HeaderGuard : DelegatingHandler
{
    private Action? _onDisposed;

    /// <param name="transport">The handler that sends to the wire.</param>
    /// <param name="onDisposed">Run once the transport has been disposed: what the transport holds beside its handler goes.</param>
    public HeaderGuard(HttpMessageHandler transport, Action? onDisposed = null)
        : base(transport)
    {
        _onDisposed = onDisposed;
    }

    /// <summary>Throws <see cref="ArgumentException"/> when a header value of <paramref name="request"/> has CR, LF or NUL.</summary>
    public static void Check(HttpRequestMessage request)
    {
        if ((FindUnsafe(request.Headers) ?? (request.Content is { } content ? FindUnsafe(content.Headers) : null)) is { } name)
        {
            // The value is not shown: it may carry a credential.
            throw new ArgumentException(
                $"Header '{name}' of the request has a value with CR, LF or NUL, which could inject headers; the request was not sent.",
                nameof(request));
        }
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Check(request);
        return base.SendAsync(request, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Check(request);
        return base.Send(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Interlocked.Exchange(ref _onDisposed, null)?.Invoke();
        }
    }

    private static string? FindUnsafe(HttpHeaders headers)
    {
        foreach (var (name, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                if (!HeaderValidation.IsValidValue(value))
                {
                    return name;
                }
            }
        }

        return null;
    }
}
