using System.Net;
using AsyncHttp.Testing.Internal;

namespace AsyncHttp.Testing;

/// <summary>
/// A fake upstream for tests of code that uses AsyncHttp, in the spirit of Flurl's <c>HttpTest</c>: routes answer
/// with canned responses, and every request received is recorded. It replaces only the session's socket layer
/// (<see cref="ClientSessionOptions.TransportFactory"/>): admission, the queue, the timeouts, the release of the
/// slot, redirects, cookies and decompression work as in production, so a test sees the limits and the exceptions a
/// real server would give.
/// </summary>
/// <remarks>
/// <para>
/// Plug it in with <c>options.UseTestUpstream(upstream)</c> in code, or
/// <c>services.AddClientSession("bulk").UseTestUpstream(upstream)</c> in a host; for sessions on a shared connector,
/// into the connector (<c>connectorOptions.UseTestUpstream(upstream)</c>,
/// <c>services.AddClientConnector("upstream").UseTestUpstream(upstream)</c>). Delays run on the session's
/// <see cref="TimeProvider"/>: give the session (or the host) a <c>FakeTimeProvider</c> and advance it.
/// </para>
/// <para>
/// Routes are tried in the order they were mapped; the first that matches answers. A request no route matches gets
/// 404. One upstream can serve any number of sessions; <see cref="TestRequest.SessionName"/> tells them apart.
/// </para>
/// <para>
/// Not modelled, because there is no socket: <see cref="ClientTimeout.SockConnect"/> and the connect part of
/// <see cref="ClientTimeout.Connect"/> (its queue wait is), DNS and its cache, TLS and certificates, keep-alive and
/// <see cref="ClientSessionOptions.ForceClose"/>, <see cref="ConnectorStats.OpenConnections"/> (it stays 0),
/// connection-creation traces (every request is traced as reusing a connection), response header size limits,
/// HTTP/2, and bytes on the wire (a declared length the body does not match is not checked; use a fault).
/// </para>
/// </remarks>
public sealed class TestUpstream
{
    private readonly Lock _lock = new();
    private readonly List<TestRoute> _routes = [];
    private readonly List<TestRequest> _requests = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];

    /// <summary>Every request received, in the order they arrived.</summary>
    public IReadOnlyList<TestRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>
    /// Maps the requests with <paramref name="method"/> to <paramref name="path"/>. The path is compared with the
    /// request URL's path (without the query) unless it has a <c>?</c>, then with the path and query; exactly, case
    /// included.
    /// </summary>
    /// <param name="method">The method.</param>
    /// <param name="path">The path, such as <c>/items/1</c>.</param>
    /// <returns>The route, to give it responses.</returns>
    public TestRoute Map(HttpMethod method, string path)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var withQuery = path.Contains('?', StringComparison.Ordinal);
        return Map(request => request.Method == method
            && string.Equals(withQuery ? request.Url.PathAndQuery : request.Url.AbsolutePath, path, StringComparison.Ordinal));
    }

    /// <summary>Maps the requests <paramref name="predicate"/> accepts (method, URL, headers, body).</summary>
    /// <param name="predicate">True for a request this route answers.</param>
    /// <returns>The route, to give it responses.</returns>
    public TestRoute Map(Func<TestRequest, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var route = new TestRoute(predicate);
        lock (_lock)
        {
            _routes.Add(route);
        }

        return route;
    }

    /// <summary>
    /// Completes once <paramref name="count"/> requests have been received, each with its <see cref="TestResponse.HeadersDelay"/>
    /// already running: advancing a <c>FakeTimeProvider</c> afterwards moves those delays.
    /// </summary>
    /// <param name="count">The number of requests, counted from the first this upstream received.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public Task WaitForRequestsAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_lock)
        {
            if (_requests.Count >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, signal));
            return signal.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Creates the transport of one connector (a session's own, or a shared one): a handler that answers from this
    /// upstream, waiting on the connector's clock. This is a <see cref="ClientSessionOptions.TransportFactory"/> or a
    /// <see cref="ConnectorOptions.TransportFactory"/>; <c>UseTestUpstream</c> sets it.
    /// </summary>
    /// <param name="context">The connector the transport serves.</param>
    public HttpMessageHandler CreateTransport(ClientTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new TestUpstreamHandler(this, context);
    }

    /// <summary>The route that answers <paramref name="request"/>, and its response.</summary>
    internal TestResponse Answer(TestRequest request)
    {
        TestRoute[] routes;
        lock (_lock)
        {
            routes = [.. _routes];
        }

        // The predicates are the test's code: called outside the lock.
        return Array.Find(routes, r => r.Matches(request))?.Answer(request)
            ?? TestResponse.Text($"No route of the test upstream matches {request.Method} {request.Url.PathAndQuery}.", HttpStatusCode.NotFound);
    }

    /// <summary>Records a request as received and wakes those waiting for it.</summary>
    internal void Received(TestRequest request)
    {
        List<TaskCompletionSource>? due = null;
        lock (_lock)
        {
            _requests.Add(request);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_requests.Count >= _waiters[i].Count)
                {
                    (due ??= []).Add(_waiters[i].Signal);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var signal in due ?? [])
        {
            signal.TrySetResult();
        }
    }
}
