using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp;

/// <summary>
/// Configures one named <see cref="ClientSession"/> registered with
/// <see cref="ClientSessionServiceCollectionExtensions.AddClientSession(IServiceCollection, string, Action{ClientSessionOptions}?)"/>.
/// All configuration is done by extension methods that return the builder, such as
/// <see cref="ClientSessionBuilderExtensions.BindConfiguration(IClientSessionBuilder, string)"/>.
/// </summary>
public interface IClientSessionBuilder
{
    /// <summary>
    /// The name of the session, spelled as it was first registered: the key of its named options, of its keyed service and
    /// in the registry (where it is found in any case).
    /// </summary>
    string Name { get; }

    /// <summary>The service collection the session is registered in.</summary>
    IServiceCollection Services { get; }
}
