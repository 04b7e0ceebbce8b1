using AsyncHttp.Internal;
using Microsoft.Extensions.Logging;

namespace AsyncHttp;

// The path of one request, in the order of the data path: admit, prepare (headers, cookies), send and follow
// redirects, finish. Each step gives back what it holds when it fails; a slot is only ever given back by its lease.
public sealed partial class ClientSession
{
    /// <summary>The current pipeline, counted as in use by one more request until that request's context completes.</summary>
    private Pipeline EnterPipeline()
    {
        while (true)
        {
            var pipeline = Volatile.Read(ref _pipeline);
            pipeline.Generation.Enter();

            // A reload may have retired this generation between the read and the count: then take the new one.
            if (ReferenceEquals(pipeline.Generation, Volatile.Read(ref _pipeline).Generation))
            {
                return pipeline;
            }

            pipeline.Generation.Exit();
        }
    }

    /// <summary>
    /// What every request does before its first await: the session must be open, the request's URL is made absolute
    /// (and its credentials moved to a header), its per-request headers and cookies are checked, and it counts as a
    /// user of the current pipeline.
    /// </summary>
    private Pipeline Begin(HttpRequestMessage request, RequestOptions? options)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        var pipeline = EnterPipeline();
        try
        {
            UrlResolution.Prepare(request, pipeline.Options, options);
            ValidateHeaders(options?.Headers);
            HopCookies.Validate(options?.Cookies);
        }
        catch
        {
            pipeline.Generation.Exit();
            throw;
        }

        return pipeline;
    }

    /// <summary>
    /// The one path of a request, whoever sends it: admission, timeouts, headers, cookies, redirects and release are
    /// the same for every caller; only the finish (<typeparamref name="TFinish"/>) differs.
    /// </summary>
    private async Task<TResult> SendCoreAsync<TResult, TFinish>(HttpRequestMessage request, Pipeline pipeline, RequestOptions? options, long started, CancellationToken cancellationToken)
        where TFinish : struct, IRequestFinish<TResult>
    {
        // 1. Admit. Without middlewares nothing needs to see the request before admission, so the first hop takes its
        // slot before the request is built: a queued request is little more than a waiter and its URL, and the
        // queue's deadline (Connect or Total) is kept by the connector, one timer for all waiters. What this state
        // machine keeps across the wait is what a queued request costs: what can be read again from the pipeline and
        // the options is not kept in locals of its own.
        Connector.SlotLease? lease = null;
        try
        {
            Telemetry.RequestStarted(request.Method, request.RequestUri!);
            if (pipeline.Generation.Middlewares is null)
            {
                // The slot's lease carries the transport current when it was granted: after a reload that built a new
                // one while this request waited, the new one.
                var deadline = Deadline.InQueue(TimeoutOf(pipeline, options), started, _time);
                lease = await pipeline.Generation.Admission.AcquireAsync(request, cancellationToken, deadline).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            var unadmitted = CreateContext(request, pipeline, TimeoutOf(pipeline, options), started, cancellationToken);
            if (ex is QueueDeadlineExceededException expired)
            {
                unadmitted.Expired(expired.Kind);
            }

            throw Failed(request, unadmitted, ex);
        }

        // 2. Prepare: the request's context (its timers and cancellation), headers and cookies.
        var context = CreateContext(request, pipeline, TimeoutOf(pipeline, options), started, cancellationToken);
        if (lease is not null)
        {
            // The first hop waited in the queue under the connector's deadline: its Connect counts from the start.
            context.HopStarted(started);
        }

        HopCookies cookies;
        try
        {
            cookies = Prepare(request, pipeline.Options, options);
        }
        catch (Exception ex)
        {
            lease?.Release();
            throw Failed(request, context, ex);
        }

        // 3. Send and follow redirects. Each hop holds one slot, from its admission until its response is released;
        // a redirect gives its slot back before the next hop takes one.
        List<RedirectHop>? hops = null;
        HttpResponseMessage? response = null;
        try
        {
            while (true)
            {
                cookies.Apply(request, JarOf(pipeline), context.Url!);
                if (pipeline.Generation.Middlewares is { } middlewares)
                {
                    // Admission is the innermost middleware: the response's content holds the hop's slot. Awaited as a
                    // ValueTask, as Admission's own send is: one awaiter in the state machine for both.
                    response = await new ValueTask<HttpResponseMessage>(middlewares.SendAsync(request, context.Token)).ConfigureAwait(false);
                    lease = (response.Content as ReleasingContent)?.Lease;
                }
                else
                {
                    if (lease is null)
                    {
                        // A redirect hop: Connect starts afresh, and the request's token carries it through the queue.
                        context.HopStarted();
                        lease = await pipeline.Generation.Admission.AcquireAsync(request, context.Token).ConfigureAwait(false);
                    }

                    response = await pipeline.Generation.Admission.SendAsync(lease, request, context, wrap: TFinish.WrapsBody, context.Token).ConfigureAwait(false);
                }

                if (TFinish.KeepsRequest && hops is null)
                {
                    cookies.Restore(request);
                }

                JarOf(pipeline)?.Store(request.RequestUri!, response);
                if (!(options?.AllowRedirects ?? true) || RedirectPolicy.GetLocation(request, response) is not { } location)
                {
                    break;
                }

                hops ??= [];
                hops.Add(new RedirectHop(request.Method, request.RequestUri!, response.StatusCode, location));
                response.Dispose();
                lease?.Release();
                (response, lease) = (null, null);
                Telemetry.Trace(TraceEventKind.RequestRedirect, request.Method, request.RequestUri, status: (int)hops[^1].StatusCode);
                if (hops.Count > pipeline.Options.MaxRedirects)
                {
                    throw new TooManyRedirectsException(pipeline.Options.MaxRedirects, hops);
                }

                request = RedirectPolicy.Next(request, hops[^1].StatusCode, location);
                context.AttachTo(request);
            }
        }
        catch (Exception ex)
        {
            // Whatever failed after a hop was admitted or answered (a bad Location, a trace callback, a timeout), its
            // response and its slot go back.
            response?.Dispose();
            lease?.Release();
            if (TFinish.KeepsRequest && hops is null)
            {
                cookies.Restore(request);
            }

            throw Failed(request, context, ex);
        }

        // 4. Finish: the caller's response holds the last hop's slot until its body is read or it is disposed.
        return TFinish.Finish(this, request, response, lease, context, hops, options?.RaiseForStatus ?? pipeline.Options.RaiseForStatus);
    }

    /// <summary>The request's timeouts: its own, or the session's as they were when it started.</summary>
    private static ClientTimeout TimeoutOf(Pipeline pipeline, RequestOptions? options) => options?.Timeout ?? pipeline.Options.Timeout;

    /// <summary>Sets the request's headers and takes its cookies; the cookies of each hop are applied as it is sent.</summary>
    private HopCookies Prepare(HttpRequestMessage request, ClientSessionOptions session, RequestOptions? options)
    {
        // A message the session made from a URL, given no headers here, has none: no header lookups for it.
        var bare = !ApplyHeaders(request, session.Headers, options?.Headers) && request is ContextRequestMessage;
        if (session.AutoDecompress && (bare || !request.Headers.NonValidated.Contains("Accept-Encoding")))
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate, br");
        }

        // The connector's HTTP version, unless the call or the message asks for its own; redirect hops keep it.
        Admission.ApplyVersion(request, options, Connector.TransportSettings);

        // Only a request with a body waits for 100 Continue (RFC 9110 §10.1.1); a redirect hop that drops the body drops it.
        if (request.Content is not null && (options?.ExpectContinue ?? session.ExpectContinue))
        {
            request.Headers.ExpectContinue = true;
        }

        return new HopCookies(request, options?.Cookies, mayHaveCookieHeader: !bare);
    }

    /// <summary>
    /// The jar of a request on <paramref name="pipeline"/>, when cookies are on: read at each use, not kept in a local
    /// that the request's state machine would hold across the queue.
    /// </summary>
    private CookieJar? JarOf(Pipeline pipeline) => pipeline.Options.UseCookies ? Cookies : null;

    private ClientResponse FinishResponse(HttpRequestMessage request, HttpResponseMessage response, Connector.SlotLease? lease, RequestContext context, List<RedirectHop>? hops, bool raiseForStatus)
    {
        context.HeadersReceived();
        context.StatusCode = (int)response.StatusCode;
        var result = new ClientResponse(request, response, context, hops, lease);
        try
        {
            Telemetry.RequestEnded(request.Method, request.RequestUri!, context.StatusCode.Value, context.StartTimestamp, _time);
        }
        catch (Exception ex)
        {
            result.Dispose();
            throw Failed(request, context, ex);
        }

        if (context.IsInterrupted)
        {
            // A timeout, the caller or the session's close ended the request while its headers were on their way.
            result.Dispose();
            throw Failed(request, context, new OperationCanceledException(context.Token));
        }

        if (raiseForStatus && result.Status >= 400)
        {
            var error = result.CreateStatusException();
            result.Dispose();
            throw error;
        }

        return result;
    }

    /// <summary>The context of a request, started at <paramref name="started"/> and counted among the live ones.</summary>
    private RequestContext CreateContext(HttpRequestMessage request, Pipeline pipeline, ClientTimeout timeout, long started, CancellationToken cancellationToken)
    {
        var context = new RequestContext(this, pipeline.Options, timeout, cancellationToken)
        {
            Generation = pipeline.Generation,
            Method = request.Method,
            Url = request.RequestUri,
        };
        context.AttachTo(request);
        context.Start(started);
        Track(context);
        return context;
    }

    /// <summary>Ends a failed request: what its caller sees, traced and logged.</summary>
    private Exception Failed(HttpRequestMessage request, RequestContext context, Exception exception)
    {
        var error = context.Translate(exception);
        context.Complete();
        Telemetry.Trace(TraceEventKind.RequestException, request.Method, request.RequestUri, exception: error);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var url = UrlRedaction.Redact(request.RequestUri);
            var errorType = error.GetType().Name;
            Log.RequestFailed(_logger, request.Method, url, errorType, error);
        }

        return error;
    }

    /// <summary>Throws for a per-request header that cannot be sent, before the request takes a slot.</summary>
    private static void ValidateHeaders(IDictionary<string, string>? perRequest)
    {
        if (perRequest is null)
        {
            return;
        }

        foreach (var (name, value) in perRequest)
        {
            if (!HeaderValidation.IsValidName(name) || !HeaderValidation.IsValidValue(value))
            {
                throw new ArgumentException($"Header '{name}' has an invalid name, or a value with CR, LF or NUL.", nameof(perRequest));
            }
        }
    }

    /// <returns>True when it set a header.</returns>
    private static bool ApplyHeaders(HttpRequestMessage request, IDictionary<string, string> defaults, IDictionary<string, string>? perRequest)
    {
        if (perRequest is not { Count: > 0 } && defaults.Count == 0)
        {
            return false;
        }

        if (perRequest is not null)
        {
            foreach (var (name, value) in perRequest)
            {
                Set(request, name, value);
            }
        }

        // Defaults come last and only where the request has no header of that name: a per-request header replaces them.
        foreach (var (name, value) in defaults)
        {
            if (!request.Headers.NonValidated.Contains(name) && request.Content?.Headers.NonValidated.Contains(name) != true)
            {
                Set(request, name, value);
            }
        }

        return true;

        static void Set(HttpRequestMessage request, string name, string value)
        {
            request.Headers.Remove(name);
            if (!request.Headers.TryAddWithoutValidation(name, value) && request.Content is { } content)
            {
                content.Headers.Remove(name);
                content.Headers.TryAddWithoutValidation(name, value);
            }
        }
    }

    /// <summary>The finish of the session's own API: a <see cref="ClientResponse"/>, whose body the session reads through the lease.</summary>
    private readonly struct ResponseFinish : IRequestFinish<ClientResponse>
    {
        public static bool WrapsBody => false;

        public static bool KeepsRequest => false;

        public static ClientResponse Finish(ClientSession session, HttpRequestMessage request, HttpResponseMessage response, Connector.SlotLease? lease, RequestContext context, List<RedirectHop>? hops, bool raiseForStatus)
            => session.FinishResponse(request, response, lease, context, hops, raiseForStatus);
    }
}
