using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp;

/// <summary>
/// Configures one named shared <see cref="Connector"/> registered with
/// <see cref="ClientConnectorServiceCollectionExtensions.AddClientConnector(IServiceCollection, string, Action{ConnectorOptions}?)"/>.
/// All configuration is done by extension methods that return the builder, such as
/// <see cref="ClientConnectorBuilderExtensions.BindConfiguration(IClientConnectorBuilder, string)"/>.
/// </summary>
public interface IClientConnectorBuilder
{
    /// <summary>
    /// The name of the connector, spelled as it was first registered: the key of its named options, and what a session's
    /// <see cref="ClientSessionOptions.Connector"/> names (in any case).
    /// </summary>
    string Name { get; }

    /// <summary>The service collection the connector is registered in.</summary>
    IServiceCollection Services { get; }
}
