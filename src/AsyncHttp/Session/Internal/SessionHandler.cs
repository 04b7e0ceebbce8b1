namespace AsyncHttp.Internal;

/// <summary>
/// A session as an <see cref="HttpMessageHandler"/> (<see cref="ClientSession.CreateHandler"/>): a thin entry to the
/// session's one request path. It owns nothing: disposing it never touches the session, its connector or connections.
/// </summary>
internal sealed class SessionHandler(ClientSession session) : HttpMessageHandler
{
    private volatile bool _disposed;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return session.SendFromHandlerAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }
}
