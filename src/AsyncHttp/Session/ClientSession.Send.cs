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

    private async Task<ClientResponse> SendCoreAsync(HttpRequestMessage request, Pipeline pipeline, RequestOptions? options, long started, CancellationToken cancellationToken)
    {
        var admission = pipeline.Generation.Admission;
        var timeout = options?.Timeout ?? pipeline.Options.Timeout;

        // 1. Admit. Without middlewares nothing needs to see the request before admission, so the first hop takes its
        // slot before the request is built: a queued request is little more than a waiter and its URL, and the
        // queue's deadline (Connect or Total) is kept by the connector, one timer for all waiters. What this state
        // machine keeps across the wait is what a queued request costs.
        Connector.SlotLease? lease = null;
        try
        {
            Telemetry.RequestStarted(request.Method, request.RequestUri!);
            if (pipeline.Generation.Middlewares is null)
            {
                lease = await admission.AcquireAsync(request, cancellationToken, Deadline.InQueue(timeout, started, _time)).ConfigureAwait(false);
                if (pipeline.Generation.IsRetired)
                {
                    // A reload built a new transport while this request waited (its limits changed, say): it is sent
                    // through the new one, with the settings it started with.
                    (pipeline, admission) = SwitchTransport(pipeline);
                }
            }
        }
        catch (Exception ex)
        {
            var unadmitted = CreateContext(request, pipeline, timeout, started, cancellationToken);
            if (ex is QueueDeadlineExceededException expired)
            {
                unadmitted.Expired(expired.Kind);
            }

            throw Failed(request, unadmitted, ex);
        }

        // 2. Prepare: the request's context (its timers and cancellation), headers and cookies.
        var context = CreateContext(request, pipeline, timeout, started, cancellationToken);
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
                cookies.Apply(request);
                if (pipeline.Generation.Middlewares is { } middlewares)
                {
                    // Admission is the innermost middleware: the response's content holds the hop's slot.
                    response = await middlewares.SendAsync(request, context.Token).ConfigureAwait(false);
                    lease = (response.Content as ReleasingContent)?.Lease;
                }
                else
                {
                    if (lease is null)
                    {
                        // A redirect hop: Connect starts afresh, and the request's token carries it through the queue.
                        context.HopStarted();
                        lease = await admission.AcquireAsync(request, context.Token).ConfigureAwait(false);
                    }

                    response = await admission.SendAsync(lease, request, context, wrap: false, context.Token).ConfigureAwait(false);
                }

                cookies.Store(request.RequestUri!, response);
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
            throw Failed(request, context, ex);
        }

        // 4. Finish: the caller's response holds the last hop's slot until its body is read or it is disposed.
        return Finish(request, response, lease, context, hops, options?.RaiseForStatus ?? pipeline.Options.RaiseForStatus);
    }

    private (Pipeline Pipeline, Admission Admission) SwitchTransport(Pipeline pipeline)
    {
        var current = EnterPipeline();
        pipeline.Generation.Exit();
        return (pipeline with { Transport = current.Transport, Generation = current.Generation }, current.Generation.Admission);
    }

    /// <summary>Sets the request's headers and takes its cookies; the cookies of each hop are applied as it is sent.</summary>
    private HopCookies Prepare(HttpRequestMessage request, ClientSessionOptions session, RequestOptions? options)
    {
        // A message the session made from a URL, given no headers here, has none: no header lookups for it.
        var bare = !ApplyHeaders(request, session.Headers, options?.Headers) && request is ContextRequestMessage;
        if (session.AutoDecompress && (bare || !request.Headers.NonValidated.Contains("Accept-Encoding")))
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate, br");
        }

        // Only a request with a body waits for 100 Continue (RFC 9110 §10.1.1); a redirect hop that drops the body drops it.
        if (request.Content is not null && (options?.ExpectContinue ?? session.ExpectContinue))
        {
            request.Headers.ExpectContinue = true;
        }

        return new HopCookies(request, session.UseCookies ? Cookies : null, options?.Cookies, mayHaveCookieHeader: !bare);
    }

    private ClientResponse Finish(HttpRequestMessage request, HttpResponseMessage response, Connector.SlotLease? lease, RequestContext context, List<RedirectHop>? hops, bool raiseForStatus)
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
}
