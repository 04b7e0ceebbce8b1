using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>Configures the options of each registered connector: its steps, in the order the registration calls were made.</summary>
internal sealed class ClientConnectorSetup : IConfigureNamedOptions<ConnectorOptions>
{
    private readonly ClientConnectorCatalog _catalog;
    private readonly IServiceProvider _services;
    private readonly ClientSessionOptionsState _state;

    public ClientConnectorSetup(ClientConnectorCatalog catalog, IServiceProvider services, ClientSessionOptionsState state)
    {
        _catalog = catalog;
        _services = services;
        _state = state;
    }

    public void Configure(string? name, ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is null || !_catalog.Contains(name))
        {
            return;
        }

        foreach (var step in _catalog.StepsOf(name))
        {
            step.Apply(options, _services, _state);
        }
    }

    public void Configure(ConnectorOptions options) => Configure(Options.DefaultName, options);
}
