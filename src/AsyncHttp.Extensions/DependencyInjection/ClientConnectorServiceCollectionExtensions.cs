using AsyncHttp;
using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers named shared <see cref="Connector"/>s, which sessions draw on by naming them.</summary>
public static class ClientConnectorServiceCollectionExtensions
{
    /// <summary>
    /// Registers a named shared <see cref="Connector"/>: named options <see cref="ConnectorOptions"/> validated at start
    /// and reloaded with the configuration. A session draws on it by naming it in
    /// <see cref="ClientSessionOptions.Connector"/> (<c>AddClientSession("bulk", o =&gt; o.Connector = "upstream")</c>, or
    /// <c>"Connector": "upstream"</c> in its configuration section); each session keeps its own <c>Limit</c>,
    /// <c>LimitPerHost</c> and <c>QueueLimit</c> as caps inside the pool, and a <c>Priority</c>. The connector is
    /// created with its first session and closed when the host stops, after the last session on it. Calling this
    /// again with the same name configures the same connector.
    /// </summary>
    /// <remarks>
    /// Names are case-insensitive, like session names: <c>"Upstream"</c> in appsettings.json, <c>"upstream"</c> here and
    /// <c>"UPSTREAM"</c> in a session's <c>Connector</c> are one connector, known everywhere by the spelling of its first
    /// registration. A session naming a connector that is not registered, or setting a connection setting
    /// (<c>KeepAliveTimeout</c>, <c>ForceClose</c>, ...) that belongs to its connector, stops the host at start with a
    /// message naming the session and the key.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The connector name.</param>
    /// <param name="configure">Configures the options, after the earlier steps for this name.</param>
    /// <returns>A builder to configure the connector further.</returns>
    /// <example><c>services.AddClientConnector("upstream", o =&gt; { o.Limit = 16; o.LimitPerHost = 16; });</c></example>
    public static IClientConnectorBuilder AddClientConnector(this IServiceCollection services, string name, Action<ConnectorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ClientSessionServiceCollectionExtensions.AddCore(services);
        var catalog = ClientConnectorCatalog.From(services);
        name = catalog.Normalize(name);
        if (catalog.TryAdd(name))
        {
            services.AddOptions<ConnectorOptions>(name).ValidateOnStart();
            services.AddSingleton<IOptionsChangeTokenSource<ConnectorOptions>>(
                sp => new SetupChangeTokenSource<ConnectorOptions>(name, () => catalog.StepsOf(name), sp));
        }

        if (configure is not null)
        {
            catalog.StepsOf(name).Add(OptionsSetupStep<ConnectorOptions>.FromDelegate(configure));
        }

        return new ClientConnectorBuilder(name, services, catalog);
    }

    /// <summary>
    /// Registers one shared connector per child of <paramref name="configuration"/> (such as the section
    /// <c>AsyncHttp:Connectors</c>), named after the child's key and bound from it; unknown keys are rejected. Reloads
    /// of the configuration reach the connectors: a raised limit admits the requests already waiting at once.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose children are connectors.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddClientConnectors(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        foreach (var child in configuration.GetChildren())
        {
            services.AddClientConnector(child.Key).Bind(child);
        }

        return services;
    }
}
