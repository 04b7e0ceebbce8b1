using AsyncHttp.Internal;

namespace AsyncHttp;

// The session as an HttpMessageHandler: HttpClient, IHttpClientFactory clients, typed clients and Refit interfaces send
// through the same path as the session's own API (admission, timeouts, headers, cookies, redirects, release); only the
// finish differs: an HttpResponseMessage whose content gives the slot back.
public sealed partial class ClientSession
{
    /// <summary>
    /// Creates an <see cref="HttpMessageHandler"/> that sends every request through this session: its middlewares, its
    /// connector (<see cref="ClientSessionOptions.Limit"/>, <see cref="ClientSessionOptions.LimitPerHost"/>, the fair
    /// queue and <see cref="ClientSessionOptions.QueueLimit"/>), its timeouts, decompression caps, cookies and
    /// redirects. Give it to an <see cref="HttpClient"/>, or make it the primary handler of an <c>IHttpClientFactory</c>
    /// client (<c>UseClientSession</c> in AsyncHttp.HttpClientFactory does that).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Every handler made from one session shares its connector with the session's own API: one limit, one queue, one
    /// set of metrics. A handler holds no connections of its own, so creating one is cheap and disposing one (or an
    /// <see cref="HttpClient"/> made from it) never closes the session; the handler then refuses new requests with
    /// <see cref="ObjectDisposedException"/>. Once the session is closed, requests through its handlers fail as the
    /// session's own do: new ones with <see cref="ObjectDisposedException"/>, queued ones with
    /// <see cref="SessionClosedException"/>. A handler follows the session's reloads: each request takes the settings
    /// current when it starts.
    /// </para>
    /// <para>
    /// The response's content holds the request's slot until its body is read to its end or the response (or its
    /// content) is disposed, exactly once; a response dropped without either is reclaimed by the collector, and the
    /// session logs a warning. <see cref="HttpCompletionOption.ResponseContentRead"/> (the default of
    /// <see cref="HttpClient.GetAsync(string)"/>) reads the body within the slot, which goes back as soon as the body
    /// is in. <see cref="ClientTimeout.Total"/> covers the body as it does for a <see cref="ClientResponse"/>; the token
    /// given to <see cref="HttpMessageHandler"/>'s <c>SendAsync</c> covers the send up to the response headers, as for
    /// any handler (<see cref="HttpClient.Timeout"/> applies on top and keeps its own
    /// <see cref="TaskCanceledException"/>).
    /// </para>
    /// <para>
    /// What wins where both sides have a setting: the request's own headers, then
    /// <see cref="HttpClient.DefaultRequestHeaders"/>, then the session's <see cref="ClientSessionOptions.Headers"/>
    /// (a session header is added only where the request has none of that name). <see cref="HttpClient.BaseAddress"/>
    /// resolves relative URLs before the handler sees them; the session's base address resolves what is still relative.
    /// <see cref="HttpClient.MaxResponseContentBufferSize"/> bounds what <see cref="HttpClient"/> buffers (the session's
    /// <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/> bounds the session's own readers). Per-request
    /// timeouts and redirect policy come from <see cref="HttpRequestMessage.Options"/>, under the keys of
    /// <see cref="ClientRequestOptionKeys"/>. After the redirects the session follows,
    /// <see cref="HttpResponseMessage.RequestMessage"/> is the last hop's request, whose URL is the final one. Errors are
    /// the session's typed exceptions, all <see cref="HttpRequestException"/>s; a full queue is a
    /// <see cref="QueueFullException"/>. The synchronous <see cref="HttpClient.Send(HttpRequestMessage)"/> is not
    /// supported (<see cref="NotSupportedException"/>): a request may wait in the queue.
    /// </para>
    /// </remarks>
    /// <returns>A new handler; dispose it (or the <see cref="HttpClient"/> that owns it) when done.</returns>
    public HttpMessageHandler CreateHandler() => new SessionHandler(this);

    /// <summary>
    /// The largest body the session's buffered readers (<see cref="ClientResponse.ReadAsBytesAsync"/> and the like)
    /// read into memory, as set now (<see cref="ClientSessionOptions.MaxResponseContentBufferSize"/>).
    /// </summary>
    public long MaxResponseContentBufferSize => Volatile.Read(ref _pipeline).Options.MaxResponseContentBufferSize;

    /// <summary>Sends a handler's request through the session's one request path.</summary>
    internal Task<HttpResponseMessage> SendFromHandlerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var options = ClientRequestOptionKeys.Read(request);
        var pipeline = Begin(request, options);
        return SendCoreAsync<HttpResponseMessage, MessageFinish>(request, pipeline, options, _time.GetTimestamp(), cancellationToken);
    }

    /// <summary>
    /// The finish of a handler's request: the last hop's response itself, whose content (a <see cref="ReleasingContent"/>)
    /// holds the slot for whoever reads or drops it.
    /// </summary>
    private HttpResponseMessage FinishMessage(HttpRequestMessage request, HttpResponseMessage response, Connector.SlotLease? lease, RequestContext context, bool raiseForStatus)
    {
        context.HeadersReceived();
        context.StatusCode = (int)response.StatusCode;
        response.RequestMessage ??= request;

        // From here the lease's release ends the request; a response a middleware made holds no slot, and ends it now.
        context.Finish(lease);
        context.DetachCaller();
        if (lease is null)
        {
            context.Complete();
        }

        try
        {
            Telemetry.RequestEnded(request.Method, request.RequestUri!, context.StatusCode.Value, context.StartTimestamp, _time);
        }
        catch (Exception ex)
        {
            response.Dispose();
            throw Failed(request, context, ex);
        }

        if (context.IsInterrupted)
        {
            // A timeout, the caller or the session's close ended the request while its headers were on their way.
            response.Dispose();
            throw Failed(request, context, new OperationCanceledException(context.Token));
        }

        if (raiseForStatus && context.StatusCode >= 400)
        {
            var error = new ResponseStatusException(response.StatusCode, response.ReasonPhrase, request.RequestUri!, request.Method, response.Headers);
            response.Dispose();
            throw error;
        }

        return response;
    }

    /// <summary>The finish of a handler's request: see <see cref="FinishMessage"/>.</summary>
    private readonly struct MessageFinish : IRequestFinish<HttpResponseMessage>
    {
        public static bool WrapsBody => true;

        public static bool KeepsRequest => true;

        public static HttpResponseMessage Finish(ClientSession session, HttpRequestMessage request, HttpResponseMessage response, Connector.SlotLease? lease, RequestContext context, List<RedirectHop>? hops, bool raiseForStatus)
            => session.FinishMessage(request, response, lease, context, raiseForStatus);
    }
}
