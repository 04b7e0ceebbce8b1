using AsyncHttp;
using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers named <see cref="ClientSession"/>s and the <see cref="ISessionRegistry"/> that holds them.</summary>
public static class ClientSessionServiceCollectionExtensions
{
    /// <summary>
    /// Registers a named <see cref="ClientSession"/>: named options <see cref="ClientSessionOptions"/> validated at
    /// start, the session in <see cref="ISessionRegistry"/> and as a keyed singleton
    /// (<c>[FromKeyedServices("name")] ClientSession</c>). Calling it again with the same name configures the same
    /// session.
    /// </summary>
    /// <remarks>
    /// Names are case-insensitive, like configuration keys: <c>"Priority"</c> from appsettings.json and
    /// <c>AddClientSession("priority")</c> are one session, found by either spelling in the registry and as a keyed
    /// service. It is known everywhere else (<see cref="ISessionRegistry.Names"/>, <see cref="ClientSession.Name"/>, its
    /// named options, logs and metrics) by the spelling of its first registration.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The session name.</param>
    /// <param name="configure">Configures the options, after the defaults and the earlier steps for this name.</param>
    /// <returns>A builder to configure the session further.</returns>
    /// <example><c>services.AddClientSession("priority", o =&gt; o.Limit = 0);</c></example>
    public static IClientSessionBuilder AddClientSession(this IServiceCollection services, string name, Action<ClientSessionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var catalog = AddCore(services);
        name = catalog.Normalize(name);
        if (catalog.TryAdd(name))
        {
            services.AddOptions<ClientSessionOptions>(name).ValidateOnStart();
            services.AddSingleton<IOptionsChangeTokenSource<ClientSessionOptions>>(
                sp => new SetupChangeTokenSource<ClientSessionOptions>(name, () => catalog.Defaults.Concat(catalog.StepsOf(name)), sp));
        }

        if (configure is not null)
        {
            catalog.StepsOf(name).Add(OptionsSetupStep<ClientSessionOptions>.FromDelegate(configure));
        }

        return new ClientSessionBuilder(name, services, catalog);
    }

    /// <summary>
    /// Registers one session per child of <paramref name="configuration"/> (such as the section
    /// <c>AsyncHttp:Sessions</c>), named after the child's key and bound from it; unknown keys are rejected. Reloads
    /// of the configuration reach the sessions.
    /// </summary>
    /// <remarks>
    /// The sessions are the children present when this is called; a session added to the configuration later is
    /// registered at the next start. Bind the defaults (<c>AsyncHttp:Defaults</c>) with
    /// <see cref="ConfigureClientSessionDefaults(IServiceCollection, IConfiguration)"/>.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose children are sessions.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddClientSessions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        foreach (var child in configuration.GetChildren())
        {
            services.AddClientSession(child.Key).Bind(child);
        }

        return services;
    }

    /// <summary>
    /// Configures every session registered in <paramref name="services"/>, before each session's own configuration,
    /// whenever either was registered.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options of every session.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection ConfigureClientSessionDefaults(this IServiceCollection services, Action<ClientSessionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services).Defaults.Add(OptionsSetupStep<ClientSessionOptions>.FromDelegate(configure));
        return services;
    }

    /// <summary>
    /// Binds the options of every session from <paramref name="configuration"/> (such as the section
    /// <c>AsyncHttp:Defaults</c>), before each session's own configuration; unknown keys are rejected. Headers merge:
    /// a session's own header of the same name wins.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section with the default settings.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection ConfigureClientSessionDefaults(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services).Defaults.Add(OptionsSetupStep<ClientSessionOptions>.FromConfiguration(_ => configuration, OptionsBinding.Bind));
        return services;
    }

    /// <summary>What every session and connector needs: the catalogs, the registries, validation and the host lifetime.</summary>
    internal static ClientSessionCatalog AddCore(IServiceCollection services)
    {
        var catalog = ClientSessionCatalog.From(services);
        ClientConnectorCatalog.From(services);
        services.AddOptions();
        services.TryAddSingleton<ClientSessionOptionsState>();
        services.TryAddSingleton<ConnectorRegistry>();
        services.TryAddSingleton<SessionRegistry>();
        services.TryAddSingleton<ISessionRegistry>(static sp => sp.GetRequiredService<SessionRegistry>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<ClientSessionOptions>, ClientSessionSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClientSessionOptions>, ClientSessionOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<ConnectorOptions>, ClientConnectorSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConnectorOptions>, ClientConnectorOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ClientSessionLifetime>());

        // One keyed registration for every name, so that a key in any case finds its session (keyed services compare
        // keys exactly). An unknown name throws the registry's error, which lists the names there are: resolving to
        // null would hand a [FromKeyedServices("typo")] parameter a null session instead of failing.
        services.TryAddKeyedSingleton<ClientSession>(KeyedService.AnyKey, static (sp, key) => key is string name
            ? sp.GetRequiredService<ISessionRegistry>().GetSession(name)
            : throw new KeyNotFoundException($"Client sessions are keyed by their name, a string; the key given is a {key?.GetType().Name ?? "null"}."));
        return catalog;
    }
}
