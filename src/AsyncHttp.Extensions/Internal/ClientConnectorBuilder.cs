using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

internal sealed class ClientConnectorBuilder : IClientConnectorBuilder
{
    public ClientConnectorBuilder(string name, IServiceCollection services, ClientConnectorCatalog catalog)
    {
        Name = name;
        Services = services;
        Catalog = catalog;
    }

    public string Name { get; }

    public IServiceCollection Services { get; }

    public ClientConnectorCatalog Catalog { get; }
}
