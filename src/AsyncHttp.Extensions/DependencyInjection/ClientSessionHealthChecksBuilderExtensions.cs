using AsyncHttp;
using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the health checks of the registered <see cref="ClientSession"/>s to the application's health checks.</summary>
public static class ClientSessionHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check for each session registered with <c>AddClientSession</c> or <c>AddClientSessions</c>,
    /// before or after this call, named <c>AsyncHttp.ClientSession.{name}</c>: healthy, degraded when its queue is
    /// nearly full or its oldest waiter has waited too long, unhealthy once it is closed (see
    /// <see cref="ClientSessionHealthCheckOptions"/>). The result's data carries <c>inUse</c>, <c>limit</c>,
    /// <c>waiting</c>, <c>queueLimit</c>, <c>oldestWait</c> and <c>openConnections</c>. A session that has not been used
    /// yet is healthy, and the check does not create it.
    /// </summary>
    /// <remarks>
    /// Each session's thresholds are the named options <see cref="ClientSessionHealthCheckOptions"/> of the session's
    /// name: <c>services.Configure&lt;ClientSessionHealthCheckOptions&gt;("bulk", o =&gt; ...)</c> sets one session's.
    /// </remarks>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <returns>The builder.</returns>
    /// <example><c>builder.Services.AddHealthChecks().AddClientSessionHealthChecks();</c> then <c>app.MapHealthChecks("/health");</c></example>
    public static IHealthChecksBuilder AddClientSessionHealthChecks(this IHealthChecksBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        ClientSessionCatalog.From(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<HealthCheckServiceOptions>, ClientSessionHealthCheckRegistrations>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClientSessionHealthCheckOptions>, ClientSessionHealthCheckOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ClientSessionHealthCheckValidation>());
        return builder;
    }

    /// <summary>
    /// Adds the health checks of every session (see <see cref="AddClientSessionHealthChecks(IHealthChecksBuilder)"/>)
    /// and configures the thresholds of every session, after the earlier configuration steps.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="configure">Configures the thresholds; called once for each session.</param>
    /// <returns>The builder.</returns>
    /// <example><c>.AddClientSessionHealthChecks(o =&gt; o.DegradedQueueWait = TimeSpan.FromSeconds(5))</c></example>
    public static IHealthChecksBuilder AddClientSessionHealthChecks(this IHealthChecksBuilder builder, Action<ClientSessionHealthCheckOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.ConfigureAll(configure);
        return builder.AddClientSessionHealthChecks();
    }

    /// <summary>
    /// Adds the health checks of every session (see <see cref="AddClientSessionHealthChecks(IHealthChecksBuilder)"/>)
    /// and binds their thresholds from <paramref name="configuration"/>, by convention the section
    /// <c>AsyncHttp:HealthChecks</c>: <c>Defaults</c> for every session, then <c>Sessions:{name}</c> for one, as the
    /// sessions' own settings are laid out. Unknown keys and unregistered session names stop the host.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="configuration">The section with <c>Defaults</c> and <c>Sessions</c>.</param>
    /// <returns>The builder.</returns>
    /// <example>
    /// <code>
    /// "HealthChecks": { "Defaults": { "DegradedQueueWait": "00:00:10" },
    ///                   "Sessions": { "bulk": { "DegradedQueueRatio": 0.95, "DegradedQueueWait": null } } }
    /// </code>
    /// </example>
    public static IHealthChecksBuilder AddClientSessionHealthChecks(this IHealthChecksBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        var catalog = ClientSessionCatalog.From(builder.Services);
        builder.Services.AddSingleton<IConfigureOptions<ClientSessionHealthCheckOptions>>(new ClientSessionHealthCheckConfiguration(configuration, catalog));
        return builder.AddClientSessionHealthChecks();
    }
}
