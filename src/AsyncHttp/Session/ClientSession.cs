using System.Diagnostics;
using System.Diagnostics.Metrics;
using AsyncHttp.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncHttp;

/// <summary>
/// A long-lived HTTP client in aiohttp's model: one connector (a connection limit, a per-host limit and a fair wait
/// queue), default headers, a base address and timeouts, shared by every request made through it. Create one per
/// purpose, reuse it for the life of the application, and dispose it (<c>await using</c>) at the end.
/// </summary>
/// <remarks>
/// <para>
/// The data path of a request: this session (URL, headers, timeouts) → middlewares → admission (the
/// <see cref="Connector"/>) → transport (<see cref="SocketsHttpHandler"/>) → <see cref="ClientResponse"/>, which holds
/// its slot until its body is read or it is disposed.
/// </para>
/// <para>
/// A session without middlewares takes the slot of a request's first hop before it builds the request's headers,
/// cookies and timers: nothing else would see them before admission. A request waiting in the queue then holds its
/// URL and a waiter, whose deadline the connector keeps behind one timer for all waiters.
/// </para>
/// </remarks>
public sealed partial class ClientSession : IAsyncDisposable, IDisposable
{
    /// <summary>The name of a session created without one.</summary>
    public const string DefaultName = "default";

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly List<PipelineGeneration> _retired = [];
    private readonly Func<DelegatingHandler>[] _middlewares;
    private readonly DeadlineLanes _totals;
    private Pipeline _pipeline;
    private RequestContext? _live;
    private Task? _closing;
    private CancellationTokenSource? _graceEnd;
    private volatile bool _closed;

    /// <summary>Creates a session named <see cref="DefaultName"/>.</summary>
    /// <param name="options">The settings; the session takes a copy. <see langword="null"/> takes the defaults.</param>
    public ClientSession(ClientSessionOptions? options = null)
        : this(DefaultName, options)
    {
    }

    /// <summary>Creates a named session.</summary>
    /// <param name="name">The name, shown in logs, metrics and errors.</param>
    /// <param name="options">The settings; the session takes a copy. <see langword="null"/> takes the defaults.</param>
    /// <param name="timeProvider">The clock for timeouts and the DNS cache; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="loggerFactory">Where the session logs (category <c>AsyncHttp.ClientSession.{name}</c>); nowhere when null.</param>
    /// <param name="middlewares">
    /// Factories of the session's middlewares, <see cref="DelegatingHandler"/>s that wrap each request (each redirect
    /// hop) inside the total timeout and outside admission; the first is outermost. A factory is called again when
    /// the session builds a new pipeline, so it must return a new handler each time.
    /// </param>
    /// <param name="meterFactory">
    /// Where the <c>AsyncHttp</c> meter comes from (DI's <see cref="IMeterFactory"/>); a process-wide meter when null.
    /// </param>
    /// <param name="traces">aiohttp-style trace callbacks, called for every request of the session.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one.</exception>
    public ClientSession(
        string name,
        ClientSessionOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IEnumerable<Func<DelegatingHandler>>? middlewares = null,
        IMeterFactory? meterFactory = null,
        IEnumerable<ClientTrace>? traces = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _middlewares = middlewares?.ToArray() ?? [];
        var snapshot = Checked(options ?? new ClientSessionOptions(), name);
        _time = timeProvider ?? TimeProvider.System;
        _totals = new DeadlineLanes(_time, ExpireTotals);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger($"AsyncHttp.ClientSession.{name}");
        Telemetry = new SessionTelemetry(name, _logger, ClientMetrics.For(meterFactory), traces?.ToArray() ?? []);
        Connector = new Connector(name, snapshot.Limit, snapshot.LimitPerHost, snapshot.QueueLimit, _time);
        Cookies = new CookieJar(snapshot.UnsafeCookies);
        _pipeline = BuildPipeline(snapshot);
        Telemetry.Metrics.Register(this);
    }

    /// <summary>The session's name.</summary>
    public string Name { get; }

    /// <summary>The connector: limits, queue and statistics.</summary>
    public Connector Connector { get; }

    /// <summary>The session's cookies (used when <see cref="ClientSessionOptions.UseCookies"/> is on).</summary>
    public CookieJar Cookies { get; }

    /// <summary>True once <see cref="CloseAsync"/> or dispose has begun.</summary>
    public bool IsClosed => _closed;

    /// <summary>The base address relative URLs are resolved against.</summary>
    public Uri? BaseAddress => Volatile.Read(ref _pipeline).Options.BaseAddress;

    internal SessionTelemetry Telemetry { get; }

    internal TimeProvider Time => _time;

    internal long MaxResponseContentBufferSize => Volatile.Read(ref _pipeline).Options.MaxResponseContentBufferSize;

    internal int MaxLineLength => Volatile.Read(ref _pipeline).Options.MaxLineLength;

    /// <summary>Sends a GET request and returns once the response headers are in; the body is read later.</summary>
    /// <param name="url">An absolute URL, or one relative to <see cref="ClientSessionOptions.BaseAddress"/>.</param>
    /// <param name="options">Per-request headers, timeouts and status handling.</param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    public Task<ClientResponse> GetAsync(string url, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Get, url, null, options, cancellationToken);

    /// <inheritdoc cref="GetAsync(string, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> GetAsync(Uri url, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Get, url, null, options, cancellationToken);

    /// <summary>Sends a POST request and returns once the response headers are in.</summary>
    /// <param name="url">An absolute URL, or one relative to <see cref="ClientSessionOptions.BaseAddress"/>.</param>
    /// <param name="content">The request body.</param>
    /// <param name="options">Per-request headers, timeouts and status handling.</param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    public Task<ClientResponse> PostAsync(string url, HttpContent? content, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Post, url, content, options, cancellationToken);

    /// <summary>Sends a PUT request and returns once the response headers are in.</summary>
    /// <inheritdoc cref="PostAsync(string, HttpContent?, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> PutAsync(string url, HttpContent? content, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Put, url, content, options, cancellationToken);

    /// <summary>Sends a PATCH request and returns once the response headers are in.</summary>
    /// <inheritdoc cref="PostAsync(string, HttpContent?, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> PatchAsync(string url, HttpContent? content, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Patch, url, content, options, cancellationToken);

    /// <summary>Sends a DELETE request and returns once the response headers are in.</summary>
    /// <inheritdoc cref="GetAsync(string, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> DeleteAsync(string url, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Delete, url, null, options, cancellationToken);

    /// <summary>Sends a HEAD request and returns the response headers.</summary>
    /// <inheritdoc cref="GetAsync(string, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> HeadAsync(string url, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Head, url, null, options, cancellationToken);

    /// <summary>Sends a request with any method and returns once the response headers are in.</summary>
    /// <param name="method">The method.</param>
    /// <param name="url">An absolute URL, or one relative to <see cref="ClientSessionOptions.BaseAddress"/>.</param>
    /// <param name="content">The request body, if any.</param>
    /// <param name="options">Per-request headers, timeouts and status handling.</param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    public Task<ClientResponse> SendAsync(HttpMethod method, string url, HttpContent? content = null, RequestOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        return SendAsync(method, UrlResolution.Parse(url), content, options, cancellationToken);
    }

    /// <inheritdoc cref="SendAsync(HttpMethod, string, HttpContent?, RequestOptions?, CancellationToken)"/>
    public Task<ClientResponse> SendAsync(HttpMethod method, Uri url, HttpContent? content = null, RequestOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(url);
        return SendAsync(new ContextRequestMessage(method, url) { Content = content }, options, cancellationToken);
    }

    /// <summary>
    /// Sends a prepared request through the session (its URL may be relative to the base address) and returns once
    /// the response headers are in. The session owns the message from here on.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="options">Per-request headers, timeouts and status handling.</param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    public Task<ClientResponse> SendAsync(HttpRequestMessage request, RequestOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_closed, this);
        var pipeline = EnterPipeline();
        try
        {
            request.RequestUri = UrlResolution.AppendQuery(UrlResolution.Resolve(request.RequestUri, pipeline.Options.BaseAddress), options?.Query);
            ValidateHeaders(options?.Headers);
            HopCookies.Validate(options?.Cookies);
        }
        catch
        {
            pipeline.Generation.Exit();
            throw;
        }

        return SendCoreAsync(request, pipeline, options, _time.GetTimestamp(), cancellationToken);
    }

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
        try
        {
            Telemetry.RequestStarted(request.Method, request.RequestUri!);
        }
        catch (Exception ex)
        {
            throw Failed(request, CreateContext(request, pipeline, options, started, cancellationToken), ex);
        }

        // Without middlewares nothing needs to see the request before admission, so it queues as little more than a
        // waiter and its URL: its headers, cookies, context and timer are made once it has a slot. The queue's
        // deadline (Connect or Total) is kept by the connector, one timer for all waiters. What this state machine
        // keeps across the wait is what a queued request costs, so the wait keeps only what it needs after it.
        HostState? admitted = null;
        if (pipeline.Generation.AdmitsFirst)
        {
            Activity? queueSpan = null;
            try
            {
                var key = HostKey.From(request.RequestUri!);
                var deadline = Deadline.InQueue(options?.Timeout ?? pipeline.Options.Timeout, started, _time);
                var acquire = Connector.AcquireAsync(key, cancellationToken, deadline);
                if (acquire.IsCompletedSuccessfully)
                {
                    admitted = acquire.Result;
                }
                else
                {
                    queueSpan = Telemetry.QueueEntered(key, request.Method, request.RequestUri!, out var deferred);
                    admitted = await acquire.ConfigureAwait(false);
                    Telemetry.QueueLeft(deferred, started, admitted.Key, request.Method, request.RequestUri!, _time);
                }
            }
            catch (Exception ex)
            {
                if (admitted is not null)
                {
                    // Admitted, then failed by a trace callback: the slot goes back.
                    Connector.Release(admitted);
                }

                if (ex is QueueFullException)
                {
                    Telemetry.QueueRejected(request.Method, request.RequestUri!);
                }

                var unadmitted = CreateContext(request, pipeline, options, started, cancellationToken);
                if (ex is QueueDeadlineExceededException expired)
                {
                    unadmitted.Expired(expired.Kind);
                }

                throw Failed(request, unadmitted, ex);
            }
            finally
            {
                queueSpan?.Dispose();
            }
        }

        var context = CreateContext(request, pipeline, options, started, cancellationToken);
        HopCookies cookies;
        try
        {
            if (admitted is not null)
            {
                context.Admitted();
            }

            // A message the session made from a URL, given no headers here, has none: no header lookups for it.
            var bare = !ApplyHeaders(request, pipeline.Options.Headers, options?.Headers) && request is ContextRequestMessage;
            if (pipeline.Options.AutoDecompress && (bare || !request.Headers.NonValidated.Contains("Accept-Encoding")))
            {
                request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate, br");
            }

            cookies = new HopCookies(request, pipeline.Options.UseCookies ? Cookies : null, options?.Cookies, mayHaveCookieHeader: !bare);
        }
        catch (Exception ex)
        {
            if (admitted is not null)
            {
                Connector.Release(admitted);
            }

            throw Failed(request, context, ex);
        }

        List<RedirectHop>? hops = null;
        HttpResponseMessage response;
        SlotLease? lease = null;
        try
        {
            while (true)
            {
                cookies.Apply(request);
                if (admitted is not null)
                {
                    // The first hop of a request admitted above: straight to the transport, with the rules of admission.
                    var connection = ConnectionCapture.Begin();
                    try
                    {
                        response = await pipeline.Generation.Transport.SendAsync(request, context.Token).ConfigureAwait(false);
                    }
                    catch (HttpRequestException ex) when (AdmissionHandler.IsRetryable(request, ex, context.Token))
                    {
                        response = await pipeline.Generation.Transport.SendAsync(request, context.Token).ConfigureAwait(false);
                    }

                    Framing.Check(response, connection);

                    // From here the lease owns the slot, and gives it back if tying it to the response fails.
                    var host = admitted;
                    admitted = null;
                    lease = pipeline.Generation.Admission.Lease(request, response, host, context, wrap: false);
                }
                else
                {
                    response = await pipeline.Invoker.SendAsync(request, context.Token).ConfigureAwait(false);
                    lease = null;
                }

                cookies.Store(request.RequestUri!, response);
                if (!(options?.AllowRedirects ?? true) || RedirectPolicy.GetLocation(request, response) is not { } location)
                {
                    break;
                }

                // Each hop gives its slot back before the next one takes a slot.
                hops ??= [];
                hops.Add(new RedirectHop(request.Method, request.RequestUri!, response.StatusCode, location));
                response.Dispose();
                lease?.Release();
                Telemetry.Trace(TraceEventKind.RequestRedirect, request.Method, request.RequestUri, status: (int)response.StatusCode);
                if (hops.Count > pipeline.Options.MaxRedirects)
                {
                    throw new TooManyRedirectsException(pipeline.Options.MaxRedirects, hops);
                }

                request = RedirectPolicy.Next(request, response.StatusCode, location);
                context.AttachTo(request);
            }
        }
        catch (Exception ex)
        {
            if (admitted is not null)
            {
                // The first hop failed before its response could hold the slot.
                Connector.Release(admitted);
            }

            throw Failed(request, context, ex);
        }

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

        if (context.IsAborted)
        {
            // The session aborted this request while its headers were on their way, before it could see the response.
            result.Dispose();
            throw new SessionClosedException(Name);
        }

        if ((options?.RaiseForStatus ?? pipeline.Options.RaiseForStatus) && result.Status >= 400)
        {
            var error = result.CreateStatusException();
            result.Dispose();
            throw error;
        }

        return result;
    }

    /// <summary>The context of a request, started at <paramref name="started"/> and counted among the live ones.</summary>
    private RequestContext CreateContext(HttpRequestMessage request, Pipeline pipeline, RequestOptions? options, long started, CancellationToken cancellationToken)
    {
        var context = new RequestContext(this, options?.Timeout ?? pipeline.Options.Timeout, cancellationToken)
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

    /// <summary>
    /// Closes the session gracefully: stops admitting (new requests throw <see cref="ObjectDisposedException"/>, queued
    /// ones fail with <see cref="SessionClosedException"/>), lets the requests in flight finish until
    /// <paramref name="cancellationToken"/> is cancelled, then aborts what is left and closes every connection.
    /// </summary>
    /// <param name="cancellationToken">Ends the grace period for requests in flight.</param>
    public Task CloseAsync(CancellationToken cancellationToken = default)
    {
        CancellationTokenSource graceEnd;
        lock (_gate)
        {
            if (_closing is null)
            {
                _closed = true;
                _graceEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                _closing = CloseCoreAsync(_graceEnd.Token);
                return _closing;
            }

            graceEnd = _graceEnd!;
        }

        // A close already under way: this caller's token (an immediate one for Dispose) can shorten its grace period.
        if (cancellationToken.IsCancellationRequested)
        {
            CancelGrace(graceEnd);
        }
        else if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.UnsafeRegister(static s => CancelGrace((CancellationTokenSource)s!), graceEnd);
        }

        return _closing;

        static void CancelGrace(CancellationTokenSource source)
        {
            try
            {
                source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The close has finished already.
            }
        }
    }

    private async Task CloseCoreAsync(CancellationToken cancellationToken)
    {
        Connector.Close();
        if (!cancellationToken.IsCancellationRequested)
        {
            var idle = Connector.WhenIdleAsync();
            try
            {
                await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The grace period is over: what is still in flight is aborted below.
            }
        }

        AbortLive();
        foreach (var generation in TakeGenerations())
        {
            generation.Dispose();
        }

        lock (_gate)
        {
            _totals.Stop();
        }

        _graceEnd?.Dispose();
        Telemetry.Metrics.Unregister(this);
        Log.Closed(_logger, Name);
    }

    /// <summary>Closes the session at once: queued requests fail, requests in flight are aborted, connections close.</summary>
    public async ValueTask DisposeAsync()
        => await CloseAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose()
        => CloseAsync(new CancellationToken(canceled: true)).GetAwaiter().GetResult();

    /// <summary>
    /// Applies new settings to the requests that start from now on; requests in flight keep the settings they began
    /// with. New limits apply to the queue at once. A change of transport settings (keep-alive, TLS, ...) starts a
    /// new connection pool; the old one is disposed once the requests using it are released.
    /// </summary>
    internal void Reconfigure(ClientSessionOptions options)
    {
        var snapshot = Checked(options, Name);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            var current = _pipeline;
            Connector.SetLimits(snapshot.Limit, snapshot.LimitPerHost, snapshot.QueueLimit);
            Cookies.UnsafeCookies = snapshot.UnsafeCookies;
            if (snapshot.TransportDiffers(current.Options))
            {
                Volatile.Write(ref _pipeline, BuildPipeline(snapshot));
                _retired.RemoveAll(static g => g.IsDisposed);
                _retired.Add(current.Generation);
                current.Generation.Retire();
            }
            else
            {
                Volatile.Write(ref _pipeline, current with { Options = snapshot });
            }
        }
    }

    internal void OnResponseLeaked(HttpMethod method, Uri url)
        => Log.ResponseLeaked(_logger, method, UrlRedaction.Redact(url));

    private List<PipelineGeneration> TakeGenerations()
    {
        lock (_gate)
        {
            List<PipelineGeneration> all = [.. _retired, _pipeline.Generation];
            _retired.Clear();
            return all;
        }
    }

    private Pipeline BuildPipeline(ClientSessionOptions options)
    {
        var transport = Transport.Create(options, Connector, _time, Telemetry);
        var admission = new AdmissionHandler(Connector, transport, options.AutoDecompress ? options.MaxDecompressedContentSize : null, Telemetry, _time);
        HttpMessageHandler handler = admission;
        for (var i = _middlewares.Length - 1; i >= 0; i--)
        {
            var middleware = _middlewares[i]() ?? throw new InvalidOperationException($"A middleware factory of session '{Name}' returned null.");
            middleware.InnerHandler = handler;
            handler = middleware;
        }

        var invoker = new HttpMessageInvoker(handler, disposeHandler: true);
        return new Pipeline(options, new PipelineGeneration(invoker, admission, transport, admitsFirst: _middlewares.Length == 0));
    }

    private static ClientSessionOptions Checked(ClientSessionOptions options, string name)
    {
        var snapshot = options.Clone();
        var errors = snapshot.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid options for session '{name}': {string.Join(" ", errors)}", nameof(options));
        }

        return snapshot;
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

    private sealed record Pipeline(ClientSessionOptions Options, PipelineGeneration Generation)
    {
        public HttpMessageInvoker Invoker => Generation.Invoker;
    }
}
