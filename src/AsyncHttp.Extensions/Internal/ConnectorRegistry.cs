using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Creates each registered connector once, when the first session on it is created; applies reloaded options to it;
/// closes the connectors after their sessions (<see cref="SessionRegistry"/> calls it last).
/// </summary>
internal sealed partial class ConnectorRegistry : IAsyncDisposable, IDisposable
{
    private readonly ClientConnectorCatalog _catalog;
    private readonly IOptionsMonitor<ConnectorOptions> _options;
    private readonly ClientSessionOptionsState _state;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly IMeterFactory? _meterFactory;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, Connector> _connectors = new(StringComparer.OrdinalIgnoreCase);
    private readonly IDisposable? _changeRegistration;
    private bool _closed;

    public ConnectorRegistry(
        ClientConnectorCatalog catalog,
        IOptionsMonitor<ConnectorOptions> options,
        ClientSessionOptionsState state,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null)
    {
        _catalog = catalog;
        _options = options;
        _state = state;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _meterFactory = meterFactory;
        _changeRegistration = options.OnChange(OnOptionsChanged);
    }

    /// <summary>The clock of every connector, and so of every session on one.</summary>
    public TimeProvider Time => _time;

    /// <summary>The connector named <paramref name="name"/> (in any case), created on first use.</summary>
    /// <exception cref="KeyNotFoundException">No connector has that name (validation at start reports it first).</exception>
    /// <exception cref="OptionsValidationException">Its settings are invalid and none valid were seen before.</exception>
    /// <exception cref="ObjectDisposedException">The host has stopped.</exception>
    public Connector Get(string name)
    {
        if (_connectors.TryGetValue(name, out var connector))
        {
            return connector;
        }

        if (!_catalog.Contains(name))
        {
            throw new KeyNotFoundException($"No connector is named '{name}'. Register it with services.AddClientConnector(\"{name}\") or under AsyncHttp:Connectors.");
        }

        name = _catalog.Normalize(name);

        // Built under the registry's gate: a connector is cheap to build (no connection until a request), and
        // connectors are few. A session is built outside it, under its own name's lock.
        lock (_gate)
        {
            if (_connectors.TryGetValue(name, out connector))
            {
                return connector;
            }

            if (_closed)
            {
                throw new ObjectDisposedException(nameof(ConnectorRegistry), $"Cannot create connector '{name}': the host has stopped and its connectors are closed.");
            }

            var options = _options.Get(name);
            var errors = _state.GetErrors(name, options);
            if (errors.Count > 0)
            {
                options = _state.LastValidConnector(name) ?? throw new OptionsValidationException(name, typeof(ConnectorOptions), errors);
            }

            connector = new Connector(name, options, _time, _loggerFactory, _meterFactory);
            _connectors[name] = connector;
        }

        var logger = Logger(name);
        Log.ConnectorCreated(logger, name);
        return connector;
    }

    /// <summary>
    /// Closes every connector, once the sessions on them are closed: what is still in flight gets until
    /// <paramref name="cancellationToken"/> is cancelled, then every connection closes.
    /// </summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        Connector[] connectors;
        lock (_gate)
        {
            _closed = true;
            connectors = [.. _connectors.Values];
        }

        await Task.WhenAll(connectors.Select(c => c.CloseAsync(cancellationToken))).ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        _changeRegistration?.Dispose();
        await CloseAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A change callback runs inside the configuration provider's reload: it logs, never throws.")]
    private void OnOptionsChanged(ConnectorOptions options, string? name)
    {
        if (name is null || !_catalog.Contains(name))
        {
            return;
        }

        name = _catalog.Normalize(name);
        var logger = Logger(name);
        try
        {
            var errors = _state.GetErrors(name, options);
            if (errors.Count > 0)
            {
                if (logger.IsEnabled(LogLevel.Error))
                {
                    Log.ReloadRejected(logger, name, string.Join(" ", errors));
                }

                return;
            }

            if (!_connectors.TryGetValue(name, out var connector) || connector.IsClosed)
            {
                return;
            }

            // A raised limit admits the waiters at once; a new connection setting builds a new transport.
            connector.Reconfigure(options);
            Log.ConnectorReconfigured(logger, name);
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

    private ILogger Logger(string name) => _loggerFactory.CreateLogger($"AsyncHttp.Connector.{name}");
}
