using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Configures the options of each registered session: the defaults first, then the session's own steps, each group in
/// the order the registration calls were made.
/// </summary>
internal sealed class ClientSessionSetup : IConfigureNamedOptions<ClientSessionOptions>
{
    private readonly ClientSessionCatalog _catalog;
    private readonly IServiceProvider _services;
    private readonly ClientSessionOptionsState _state;

    public ClientSessionSetup(ClientSessionCatalog catalog, IServiceProvider services, ClientSessionOptionsState state)
    {
        _catalog = catalog;
        _services = services;
        _state = state;
    }

    public void Configure(string? name, ClientSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is null || !_catalog.Contains(name))
        {
            return;
        }

        foreach (var step in _catalog.Defaults)
        {
            step.Apply(options, _services, _state);
        }

        foreach (var step in _catalog.StepsOf(name))
        {
            step.Apply(options, _services, _state);
        }
    }

    public void Configure(ClientSessionOptions options) => Configure(Options.DefaultName, options);
}
