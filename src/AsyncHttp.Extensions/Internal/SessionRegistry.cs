using System.Diagnostics.Metrics;
using System.Collections.Concurrent;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Creates each registered session once, on first use (on its shared connector, if it names one); applies reloaded
/// options to the live instances; closes them gracefully when the host has stopped its services, and at once when
/// disposed, and the shared connectors after them.
/// </summary>
internal sealed partial class SessionRegistry : ISessionRegistry, IAsyncDisposable, IDisposable
{
    private readonly ClientSessionCatalog _catalog;
    private readonly IOptionsMonitor<ClientSessionOptions> _options;
    private readonly ClientSessionOptionsState _state;
    private readonly ConnectorRegistry _connectors;
    private readonly IServiceProvider _services;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly IMeterFactory? _meterFactory;
    private readonly ILogger _logger;
    private readonly ReadOnlyCollection<string> _names;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, ClientSession> _sessions = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Lock> _creating = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentBag<AdmissionLimiter> _limiters = [];
    private int _changes;
    private readonly CancellationTokenSource _disposing = new();
    private readonly IDisposable? _changeRegistration;
    private bool _closed;
    private bool _disposed;

    public SessionRegistry(
        ClientSessionCatalog catalog,
        IOptionsMonitor<ClientSessionOptions> options,
        ClientSessionOptionsState state,
        ConnectorRegistry connectors,
        IServiceProvider services,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null)
    {
        _meterFactory = meterFactory;
        _catalog = catalog;
        _options = options;
        _state = state;
        _connectors = connectors;
        _services = services;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _logger = _loggerFactory.CreateLogger("AsyncHttp.Extensions.SessionRegistry");
        _names = Array.AsReadOnly(catalog.Names.ToArray());
        _changeRegistration = options.OnChange(OnOptionsChanged);
    }

    public IReadOnlyCollection<string> Names => _names;

    public ClientSession GetSession(string name)
    {
        if (TryGetSession(name, out var session))
        {
            return session;
        }

        var known = _names.Count == 0 ? "none are registered" : "the registered ones are " + string.Join(", ", _names.Select(n => $"'{n}'"));
        throw new KeyNotFoundException(
            $"No client session is named '{name}'; {known}. Register it with services.AddClientSession(\"{name}\") or in the configuration section given to AddClientSessions.");
    }

    public bool TryGetSession(string name, [NotNullWhen(true)] out ClientSession? session)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (_sessions.TryGetValue(name, out session))
        {
            return true;
        }

        if (!_catalog.Contains(name))
        {
            return false;
        }

        session = Create(_catalog.Normalize(name));
        return true;
    }

    /// <summary>The session named <paramref name="name"/> if it was created already; never creates one (health checks).</summary>
    internal bool TryGetCreated(string name, [NotNullWhen(true)] out ClientSession? session) => _sessions.TryGetValue(name, out session);

    /// <summary>True once the host has stopped or the registry was disposed: no session can be created any more.</summary>
    internal bool IsClosed => Volatile.Read(ref _closed);

    private ClientSession Create(string name)
    {
        // One instance per name: a lock of the name's own, so that building a session (its transport, the user's
        // middleware factories) never holds the registry's gate, which reloads and the host's stop take.
        lock (_creating.GetOrAdd(name, static _ => new Lock()))
        {
            if (_sessions.TryGetValue(name, out var existing))
            {
                return existing;
            }

            ThrowIfClosed(name);

            // A reload rejected before this first use (logged when it came) leaves the last valid settings in force, as
            // it would for a session already in use. None before the host has validated them: then the errors are thrown.
            var changes = Volatile.Read(ref _changes);
            var options = _options.Get(name);
            var errors = _state.GetErrors(name, options);
            if (errors.Count > 0)
            {
                options = _state.LastValid(name) ?? throw new OptionsValidationException(name, typeof(ClientSessionOptions), errors);
            }

            var middlewares = _catalog.MiddlewaresOf(name).Select(Bind);
            var traces = _catalog.TracesOf(name).Select(trace => trace(_services)).ToArray();
            options = WithLimiters(name, options);
            ClientSession session;
            try
            {
                // A session on a shared connector runs on the connector's clock, which is this registry's too.
                session = options.Connector is { } shared && !string.IsNullOrWhiteSpace(shared)
                    ? new ClientSession(name, _connectors.Get(shared), options, _connectors.Time, _loggerFactory, middlewares, _meterFactory, traces)
                    : new ClientSession(name, options, _time, _loggerFactory, middlewares, _meterFactory, traces);
            }
            catch
            {
                DisposeLimiters(options.Limiters);
                throw;
            }

            lock (_gate)
            {
                if (_closed || _disposed)
                {
                    session.Dispose();
                    ThrowIfClosed(name);
                }

                _sessions[name] = session;
            }

            var logger = SessionLogger(name);
            Log.SessionCreated(logger, name);
            if (Volatile.Read(ref _changes) != changes)
            {
                // The configuration reloaded while the session was being built, and the reload found no session to
                // apply to: apply what is current now.
                OnOptionsChanged(_options.Get(name), name);
            }

            return session;
        }
    }

    /// <summary>
    /// The options with the session's registered limiters (AddLimiter), made now, once per session: they live as long as
    /// it does and are disposed after it closes.
    /// </summary>
    private ClientSessionOptions WithLimiters(string name, ClientSessionOptions options)
    {
        var factories = _catalog.LimitersOf(name);
        if (factories.Count == 0)
        {
            return options;
        }

        var copy = options.Clone();
        try
        {
            foreach (var factory in factories)
            {
                var limiter = factory(_services);
                copy.Limiters.Add(limiter);
                _limiters.Add(limiter);
            }
        }
        catch
        {
            DisposeLimiters(copy.Limiters);
            throw;
        }

        return copy;
    }

    private static void DisposeLimiters(IEnumerable<AdmissionLimiter> limiters)
    {
        foreach (var limiter in limiters)
        {
            limiter.Dispose();
        }
    }

    private void ThrowIfClosed(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (Volatile.Read(ref _closed))
        {
            throw new ObjectDisposedException(nameof(ISessionRegistry), $"Cannot create client session '{name}': the host has stopped and its sessions are closed.");
        }
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A change callback runs inside the configuration provider's reload: it logs, never throws.")]
    private void OnOptionsChanged(ClientSessionOptions options, string? name)
    {
        if (name is null || !_catalog.Contains(name))
        {
            return;
        }

        Interlocked.Increment(ref _changes);
        name = _catalog.Normalize(name);
        var logger = SessionLogger(name);
        try
        {
            if (Volatile.Read(ref _closed))
            {
                return;
            }

            // Checked whether or not the session exists yet: one not used so far starts from the last valid settings.
            var errors = _state.GetErrors(name, options);
            if (errors.Count > 0)
            {
                if (logger.IsEnabled(LogLevel.Error))
                {
                    Log.ReloadRejected(logger, name, string.Join(" ", errors));
                }

                return;
            }

            if (!_sessions.TryGetValue(name, out var session) || session.IsClosed)
            {
                return;
            }

            // Outside the registry's gate: a new transport may be built, and the user's middleware factories called.
            session.Reconfigure(options);
            Log.SessionReconfigured(logger, name);
        }
        catch (ObjectDisposedException) when (Volatile.Read(ref _closed))
        {
            // The host stopped while the reload was being applied.
        }
        catch (Exception ex)
        {
            Log.ReloadFailed(logger, name, ex);
        }
    }

    /// <summary>
    /// Stops every session admitting, lets requests in flight finish until <paramref name="cancellationToken"/> is
    /// cancelled (the host's shutdown timeout), then aborts the rest and closes every connection.
    /// </summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        ClientSession[] sessions;
        CancellationTokenSource graceEnd;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _closed = true;
            sessions = [.. _sessions.Values];

            // Disposal cuts the grace period short.
            graceEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        }

        using (graceEnd)
        {
            Log.ClosingSessions(_logger, sessions.Length);
            await Task.WhenAll(sessions.Select(s => s.CloseAsync(graceEnd.Token))).ConfigureAwait(false);

            // The shared connectors after the last session on them: their requests are done or aborted by now.
            await _connectors.CloseAsync(graceEnd.Token).ConfigureAwait(false);
            await DisposeLimitersAsync().ConfigureAwait(false);
            Log.SessionsClosed(_logger, sessions.Length);
        }
    }

    public void Dispose()
    {
        foreach (var session in BeginDispose())
        {
            session.Dispose();
        }

        _connectors.Dispose();
        DisposeLimiters(TakeLimiters());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var session in BeginDispose())
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }

        await _connectors.DisposeAsync().ConfigureAwait(false);
        await DisposeLimitersAsync().ConfigureAwait(false);
    }

    /// <summary>The limiters made for the sessions, once: each is disposed once, after the sessions closed.</summary>
    private List<AdmissionLimiter> TakeLimiters()
    {
        List<AdmissionLimiter> taken = [];
        while (_limiters.TryTake(out var limiter))
        {
            taken.Add(limiter);
        }

        return taken;
    }

    private async Task DisposeLimitersAsync()
    {
        foreach (var limiter in TakeLimiters())
        {
            await limiter.DisposeAsync().ConfigureAwait(false);
        }
    }

    private ClientSession[] BeginDispose()
    {
        ClientSession[] sessions;
        lock (_gate)
        {
            if (_disposed)
            {
                return [];
            }

            _disposed = true;
            _closed = true;
            sessions = [.. _sessions.Values];
        }

        _changeRegistration?.Dispose();
        _disposing.Cancel();
        _disposing.Dispose();
        return sessions;
    }

    private Func<DelegatingHandler> Bind(Func<IServiceProvider, DelegatingHandler> factory) => () => factory(_services);

    private ILogger SessionLogger(string name) => _loggerFactory.CreateLogger($"AsyncHttp.ClientSession.{name}");
}
