using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// What the connector registration calls said: the connector names and, for each, the steps that configure its
/// options, in call order. Kept in the service collection as an instance, like <see cref="ClientSessionCatalog"/>, so
/// that every registration call finds the same one; read-only once the service provider is built.
/// </summary>
/// <remarks>
/// Connector names are case-insensitive, like session names: <see cref="Normalize"/> turns a name given anywhere (a
/// registration, a session's <see cref="ClientSessionOptions.Connector"/>) into the spelling of the first registration.
/// </remarks>
internal sealed class ClientConnectorCatalog
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, List<OptionsSetupStep<ConnectorOptions>>> _steps = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The registered names, in registration order, each spelled as it was first registered.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The name of the connector <paramref name="name"/> designates, whatever its case; itself when none has it.</summary>
    public string Normalize(string name)
    {
        foreach (var known in _names)
        {
            if (string.Equals(known, name, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return name;
    }

    /// <summary>True when a connector has this name, in any case.</summary>
    public bool Contains(string name) => _steps.ContainsKey(name);

    /// <summary>Registers a name; false when it was registered already, in any case.</summary>
    public bool TryAdd(string name)
    {
        if (!_steps.TryAdd(name, []))
        {
            return false;
        }

        _names.Add(name);
        return true;
    }

    public List<OptionsSetupStep<ConnectorOptions>> StepsOf(string name) => _steps[name];

    /// <summary>Finds the catalog of <paramref name="services"/>, adding it on first use.</summary>
    public static ClientConnectorCatalog From(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(ClientConnectorCatalog) && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is ClientConnectorCatalog catalog)
            {
                return catalog;
            }
        }

        var added = new ClientConnectorCatalog();
        services.AddSingleton(added);
        return added;
    }
}
