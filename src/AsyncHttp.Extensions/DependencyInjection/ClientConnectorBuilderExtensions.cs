using AsyncHttp;
using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures a named shared <see cref="Connector"/> registered with <c>AddClientConnector</c>.</summary>
public static class ClientConnectorBuilderExtensions
{
    /// <summary>
    /// Binds the connector's options from the section at <paramref name="configSectionPath"/> of the application's
    /// <see cref="IConfiguration"/> (such as <c>AsyncHttp:Connectors:upstream</c>), after the earlier steps. Unknown keys
    /// are rejected: the host does not start, and a reload with one is logged and ignored. Reloads of the configuration
    /// reach the connector.
    /// </summary>
    /// <param name="builder">The connector builder.</param>
    /// <param name="configSectionPath">The section path, with <c>:</c> between keys.</param>
    /// <returns>The builder.</returns>
    public static IClientConnectorBuilder BindConfiguration(this IClientConnectorBuilder builder, string configSectionPath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configSectionPath);
        StepsOf(builder).Add(OptionsSetupStep<ConnectorOptions>.FromConfiguration(sp => OptionsBinding.Section(sp, configSectionPath), OptionsBinding.Bind));
        return builder;
    }

    /// <summary>
    /// Binds the connector's options from <paramref name="configuration"/>, after the earlier steps. Unknown keys are
    /// rejected as in <see cref="BindConfiguration(IClientConnectorBuilder, string)"/>; reloads reach the connector.
    /// </summary>
    /// <param name="builder">The connector builder.</param>
    /// <param name="configuration">The section with the connector's settings.</param>
    /// <returns>The builder.</returns>
    public static IClientConnectorBuilder Bind(this IClientConnectorBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        StepsOf(builder).Add(OptionsSetupStep<ConnectorOptions>.FromConfiguration(_ => configuration, OptionsBinding.Bind));
        return builder;
    }

    /// <summary>Configures the connector's options in code, after the earlier steps.</summary>
    /// <param name="builder">The connector builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The builder.</returns>
    public static IClientConnectorBuilder ConfigureOptions(this IClientConnectorBuilder builder, Action<ConnectorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        StepsOf(builder).Add(OptionsSetupStep<ConnectorOptions>.FromDelegate(configure));
        return builder;
    }

    private static List<OptionsSetupStep<ConnectorOptions>> StepsOf(IClientConnectorBuilder builder)
    {
        // A builder made elsewhere (a wrapper, a test double) is registered here first, which is idempotent.
        var own = builder as ClientConnectorBuilder ?? (ClientConnectorBuilder)builder.Services.AddClientConnector(builder.Name);
        return own.Catalog.StepsOf(builder.Name);
    }
}
