using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// What the options pipeline knows beyond the options themselves: the binding errors of each options instance built
/// (of sessions and connectors), the last valid options of each session and connector, and whether the host has
/// started (after which an invalid reload is logged and ignored rather than thrown).
/// </summary>
internal sealed class ClientSessionOptionsState
{
    private readonly ConditionalWeakTable<object, List<string>> _bindingErrors = [];
    private readonly ConcurrentDictionary<string, ClientSessionOptions> _lastValid = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, ConnectorOptions> _lastValidConnectors = new(StringComparer.OrdinalIgnoreCase);
    private readonly ClientConnectorCatalog _connectors;
    private volatile bool _hostStarted;

    public ClientSessionOptionsState(ClientConnectorCatalog connectors)
    {
        _connectors = connectors;
    }

    /// <summary>True once the host has validated the options at start and begun starting its services.</summary>
    public bool HostStarted => _hostStarted;

    public void MarkHostStarted() => _hostStarted = true;

    /// <summary>Records <paramref name="options"/>, which passed validation, as the last valid settings of session <paramref name="name"/>.</summary>
    public void Accept(string name, ClientSessionOptions options) => _lastValid[name] = options;

    /// <summary>Records <paramref name="options"/>, which passed validation, as the last valid settings of connector <paramref name="name"/>.</summary>
    public void Accept(string name, ConnectorOptions options) => _lastValidConnectors[name] = options;

    /// <summary>
    /// The last settings of session <paramref name="name"/> that passed validation: those validated at start, or a later
    /// valid reload; null when none has.
    /// </summary>
    public ClientSessionOptions? LastValid(string name) => _lastValid.GetValueOrDefault(name);

    /// <summary>The last settings of connector <paramref name="name"/> that passed validation; null when none has.</summary>
    public ConnectorOptions? LastValidConnector(string name) => _lastValidConnectors.GetValueOrDefault(name);

    /// <summary>Records a bad key of the configuration bound into <paramref name="options"/> (session or connector options).</summary>
    public void AddBindingError(object options, string error)
    {
        var errors = _bindingErrors.GetValue(options, static _ => []);
        lock (errors)
        {
            errors.Add(error);
        }
    }

    /// <summary>
    /// Every problem of <paramref name="options"/>, each message naming the session and the key: binding errors, bad
    /// values, a connector it names that is not registered, a connection setting on a shared connector.
    /// </summary>
    public List<string> GetErrors(string name, ClientSessionOptions options)
    {
        var all = BindingErrors(options, $"Session '{name}'");
        if (options.Connector is { } connector && !string.IsNullOrWhiteSpace(connector) && !_connectors.Contains(connector))
        {
            var known = _connectors.Names.Count == 0 ? "none is registered" : "the registered ones are " + string.Join(", ", _connectors.Names.Select(n => $"'{n}'"));
            all.Add($"Session '{name}': Connector names '{connector}', which is not a registered connector; {known}. Register it with services.AddClientConnector(\"{connector}\") or under AsyncHttp:Connectors.");
        }

        foreach (var error in options.Validate())
        {
            all.Add($"Session '{name}': {error}");
        }

        return all;
    }

    /// <summary>Every problem of connector options, each message naming the connector and the key.</summary>
    public List<string> GetErrors(string name, ConnectorOptions options)
    {
        var all = BindingErrors(options, $"Connector '{name}'");
        foreach (var error in options.Validate())
        {
            all.Add($"Connector '{name}': {error}");
        }

        return all;
    }

    private List<string> BindingErrors(object options, string owner)
    {
        List<string> all = [];
        if (_bindingErrors.TryGetValue(options, out var bindingErrors))
        {
            lock (bindingErrors)
            {
                foreach (var error in bindingErrors)
                {
                    all.Add($"{owner}: {error}");
                }
            }
        }

        return all;
    }
}
