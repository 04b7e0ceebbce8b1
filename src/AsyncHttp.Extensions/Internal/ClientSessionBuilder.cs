using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

internal sealed class ClientSessionBuilder : IClientSessionBuilder
{
    public ClientSessionBuilder(string name, IServiceCollection services, ClientSessionCatalog catalog)
    {
        Name = name;
        Services = services;
        Catalog = catalog;
    }

    public string Name { get; }

    public IServiceCollection Services { get; }

    public ClientSessionCatalog Catalog { get; }
}
