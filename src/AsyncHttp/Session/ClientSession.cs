using System.Diagnostics.Metrics;
using AsyncHttp.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncHttp;

/// <summary>
/// A long-lived HTTP client in aiohttp's model: one connector (a connection limit, a per-host limit and a fair wait
/// queue; its own, or a <see cref="AsyncHttp.Connector"/> shared with other sessions), default headers, a base address
/// and timeouts, shared by every request made through it. Create one per
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
    private long _guardsFinalized;
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

    /// <summary>Creates a named session that owns its connector, configured by <paramref name="options"/>.</summary>
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
        : this(name, options, timeProvider, loggerFactory, middlewares, meterFactory, traces, shared: null)
    {
    }

    /// <summary>
    /// Creates a named session on a shared <paramref name="connector"/>: it draws on the connector's pool and limits with
    /// the other sessions on it, inside its own caps (<see cref="ClientSessionOptions.Limit"/>,
    /// <see cref="ClientSessionOptions.LimitPerHost"/>, <see cref="ClientSessionOptions.QueueLimit"/>) and at its
    /// <see cref="ClientSessionOptions.Priority"/>. The session never closes the connector: whoever created it does,
    /// after the last session using it.
    /// </summary>
    /// <param name="name">The name, shown in logs, metrics and errors.</param>
    /// <param name="connector">The connector to draw on; its connection settings apply to the session's requests.</param>
    /// <param name="options">
    /// The settings; the session takes a copy. <see langword="null"/> takes the defaults. A setting that shapes a
    /// connection (<see cref="ClientSessionOptions.KeepAliveTimeout"/>, ...) is the connector's: setting one here is an
    /// error.
    /// </param>
    /// <param name="timeProvider">The clock for timeouts; the connector's, which it must be when given.</param>
    /// <param name="loggerFactory">Where the session logs (category <c>AsyncHttp.ClientSession.{name}</c>); nowhere when null.</param>
    /// <param name="middlewares">Factories of the session's middlewares, as for a session that owns its connector.</param>
    /// <param name="meterFactory">Where the <c>AsyncHttp</c> meter comes from; a process-wide meter when null.</param>
    /// <param name="traces">aiohttp-style trace callbacks, called for every request of the session.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one.</exception>
    /// <exception cref="ObjectDisposedException">The connector is closed.</exception>
    /// <example>
    /// <code>
    /// await using var upstream = new Connector("upstream", new ConnectorOptions { Limit = 16 });
    /// await using var bulk = new ClientSession("bulk", upstream, new ClientSessionOptions { Limit = 12 });
    /// await using var priority = new ClientSession("priority", upstream, new ClientSessionOptions { Priority = 10 });
    /// </code>
    /// </example>
    public ClientSession(
        string name,
        Connector connector,
        ClientSessionOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IEnumerable<Func<DelegatingHandler>>? middlewares = null,
        IMeterFactory? meterFactory = null,
        IEnumerable<ClientTrace>? traces = null)
        : this(name, options, timeProvider, loggerFactory, middlewares, meterFactory, traces, connector ?? throw new ArgumentNullException(nameof(connector)))
    {
    }

    private ClientSession(
        string name,
        ClientSessionOptions? options,
        TimeProvider? timeProvider,
        ILoggerFactory? loggerFactory,
        IEnumerable<Func<DelegatingHandler>>? middlewares,
        IMeterFactory? meterFactory,
        IEnumerable<ClientTrace>? traces,
        Connector? shared)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _middlewares = middlewares?.ToArray() ?? [];
        var snapshot = Checked(options ?? new ClientSessionOptions(), name, shared);
        if (shared is not null && timeProvider is not null && !ReferenceEquals(timeProvider, shared.Time))
        {
            throw new ArgumentException(
                $"Session '{name}' must keep its timeouts on the clock of its connector '{shared.Name}': pass the connector's TimeProvider, or none.",
                nameof(timeProvider));
        }

        _time = shared?.Time ?? timeProvider ?? TimeProvider.System;
        _totals = new DeadlineLanes(_time, ExpireTotals);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger($"AsyncHttp.ClientSession.{name}");
        Telemetry = new SessionTelemetry(name, _logger, ClientMetrics.For(meterFactory), traces?.ToArray() ?? [], shared?.Name);
        Connector = shared ?? new Connector(name, snapshot.ToConnectorOptions(), _time, Telemetry, owner: name);
        Member = Connector.Join(name, snapshot.ToCaps(shared is not null), shared is null ? null : () => AbortLive(Interruption.ConnectorClosed), [.. snapshot.Limiters]);
        Cookies = new CookieJar(snapshot.UnsafeCookies);
        try
        {
            _pipeline = new Pipeline(snapshot, BuildGeneration(snapshot.DecodeUpTo));
        }
        catch
        {
            // A middleware factory failed: the session never existed, so it leaves its connector, or closes its own.
            Connector.CloseMember(Member);
            if (shared is null)
            {
                Connector.CloseCoreAsync(new CancellationToken(canceled: true)).GetAwaiter().GetResult();
            }

            throw;
        }

        Telemetry.Metrics.Register(this);
    }

    /// <summary>The session's name.</summary>
    public string Name { get; }

    /// <summary>
    /// The connector the session draws on: limits, queue, connections and statistics. The session's own, created from
    /// its options and closed with it, unless a shared connector was given to the constructor.
    /// </summary>
    public Connector Connector { get; }

    /// <summary>
    /// The session's share of its connector: its own caps and priority, the slots it holds and its requests waiting.
    /// </summary>
    public SessionStats Stats => Connector.StatsOf(Member);

    /// <summary>The session's cookies (used when <see cref="ClientSessionOptions.UseCookies"/> is on).</summary>
    public CookieJar Cookies { get; }

    /// <summary>True once <see cref="CloseAsync"/> or dispose has begun.</summary>
    public bool IsClosed => _closed;

    /// <summary>The base address relative URLs are resolved against.</summary>
    public Uri? BaseAddress => Volatile.Read(ref _pipeline).Options.BaseAddress;

    internal SessionTelemetry Telemetry { get; }

    /// <summary>The session on its connector: what admission takes the session's slots through.</summary>
    internal ConnectorMember Member { get; }

    internal TimeProvider Time => _time;

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
        var pipeline = Begin(request, options);
        return SendCoreAsync<ClientResponse, ResponseFinish>(request, pipeline, options, _time.GetTimestamp(), cancellationToken);
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
        // Only this session's waiters fail: on a shared connector, the other sessions keep working.
        Connector.CloseMember(Member);
        if (!cancellationToken.IsCancellationRequested)
        {
            var idle = Connector.WhenIdleAsync(Member);
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

        if (Connector.IsOwned)
        {
            // Its own connector goes with it: every connection closes. A shared one is closed by whoever created it.
            await Connector.CloseCoreAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
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
    /// with. New limits apply to the queue at once, to the requests already waiting too. For a session that owns its
    /// connector, a change of a connection setting (keep-alive, TLS, <see cref="ClientTimeout.SockConnect"/>, ...) or of
    /// a limit builds a new connection pool; the old one is disposed once the requests using it are released. A session
    /// on a shared connector cannot leave it, nor set a connection setting. The host integration calls this when the
    /// configuration reloads.
    /// </summary>
    /// <param name="options">The new settings; the session takes a copy.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names each bad one, and nothing changes.</exception>
    /// <exception cref="ObjectDisposedException">The session is closed.</exception>
    public void Reconfigure(ClientSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var snapshot = Checked(options, Name, Connector.IsOwned ? null : Connector);
        ObjectDisposedException.ThrowIf(_closed, this);
        if (Connector.IsOwned)
        {
            // A new transport, if one is needed, is built outside the session's gate, which requests take.
            Connector.Apply(snapshot.ToConnectorOptions());
        }

        Connector.SetCaps(Member, snapshot.ToCaps(!Connector.IsOwned));
        var decodeUpTo = snapshot.DecodeUpTo;
        while (true)
        {
            // A new pipeline (the user's middleware factories) is built outside the gate; only the swap happens under it.
            var current = Volatile.Read(ref _pipeline);
            var built = decodeUpTo == current.Options.DecodeUpTo ? null : BuildGeneration(decodeUpTo);
            PipelineGeneration? retired = null;
            lock (_gate)
            {
                if (_closed || !ReferenceEquals(_pipeline, current))
                {
                    built?.Dispose();
                    ObjectDisposedException.ThrowIf(_closed, this);

                    // Another reload won the race: decide again against what it left.
                    continue;
                }

                Cookies.UnsafeCookies = snapshot.UnsafeCookies;
                if (built is null)
                {
                    Volatile.Write(ref _pipeline, current with { Options = snapshot });
                }
                else
                {
                    Volatile.Write(ref _pipeline, new Pipeline(snapshot, built));
                    _retired.RemoveAll(static g => g.IsDisposed);
                    _retired.Add(current.Generation);
                    retired = current.Generation;
                }
            }

            // Disposing middlewares may do anything: outside the gate too.
            retired?.Retire();
            return;
        }
    }

    internal void OnResponseLeaked(HttpMethod method, Uri? url)
        => Log.ResponseLeaked(_logger, method, UrlRedaction.Redact(url));

    /// <summary>
    /// How many of this session's leak guards (a <see cref="ClientResponse"/>, or a handler's response content) the
    /// collector had to finalize: only those dropped before their slot went back should be, since a finalizer pending
    /// keeps a whole response alive through a collection.
    /// </summary>
    internal long GuardsFinalized => Interlocked.Read(ref _guardsFinalized);

    /// <summary>A leak guard's finalizer ran (see <see cref="GuardsFinalized"/>).</summary>
    internal void OnGuardFinalized() => Interlocked.Increment(ref _guardsFinalized);

    private List<PipelineGeneration> TakeGenerations()
    {
        lock (_gate)
        {
            List<PipelineGeneration> all = [.. _retired, _pipeline.Generation];
            _retired.Clear();
            return all;
        }
    }

    private PipelineGeneration BuildGeneration(long? decodeUpTo)
    {
        var admission = new Admission(Member, decodeUpTo, Telemetry, _time);
        if (_middlewares.Length == 0)
        {
            return new PipelineGeneration(admission, middlewares: null);
        }

        HttpMessageHandler handler = new AdmissionHandler(admission);
        for (var i = _middlewares.Length - 1; i >= 0; i--)
        {
            var middleware = _middlewares[i]() ?? throw new InvalidOperationException($"A middleware factory of session '{Name}' returned null.");
            middleware.InnerHandler = handler;
            handler = middleware;
        }

        return new PipelineGeneration(admission, new HttpMessageInvoker(handler, disposeHandler: true));
    }

    /// <summary>
    /// A copy of <paramref name="options"/> once every setting checks out, for a session that owns its connector or is
    /// on <paramref name="shared"/>: then a connection setting is an error, and so is the name of another connector.
    /// </summary>
    private static ClientSessionOptions Checked(ClientSessionOptions options, string name, Connector? shared)
    {
        var snapshot = options.Clone();
        var errors = snapshot.Validate(shared?.Name);
        if (snapshot.Connector is { } named && !string.IsNullOrWhiteSpace(named))
        {
            if (shared is null)
            {
                errors.Add($"Connector names '{named}', but the session owns its connector: give the shared connector to the constructor (new ClientSession(name, connector, options)), or register it with AddClientConnector.");
            }
            else if (!string.Equals(named, shared.Name, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"Connector names '{named}', but the session is on connector '{shared.Name}'.");
            }
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid options for session '{name}': {string.Join(" ", errors)}", nameof(options));
        }

        return snapshot;
    }

    /// <summary>The settings new requests start with, and the pipeline built from them.</summary>
    private sealed record Pipeline(ClientSessionOptions Options, PipelineGeneration Generation);
}
