using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// One health check registration per registered session, made when the health check service first needs them, so
/// that sessions registered after <c>AddClientSessionHealthChecks</c> are checked too.
/// </summary>
internal sealed class ClientSessionHealthCheckRegistrations(ClientSessionCatalog catalog, IOptionsMonitor<ClientSessionHealthCheckOptions> thresholds) : IConfigureOptions<HealthCheckServiceOptions>
{
    public void Configure(HealthCheckServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var name in catalog.Names)
        {
            var session = Thresholds(name);
            options.Registrations.Add(new HealthCheckRegistration(
                ClientSessionHealthCheckDefaults.RegistrationName(name),
                sp => new ClientSessionHealthCheck(
                    name,
                    sp.GetRequiredService<SessionRegistry>(),
                    sp.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>(),
                    sp.GetRequiredService<IOptionsMonitor<ClientSessionHealthCheckOptions>>()),
                session.FailureStatus,
                session.Tags));
        }
    }

    /// <summary>
    /// The session's thresholds; the defaults when they are invalid. This runs when the health check service is made,
    /// which a host does before it starts its services: <see cref="ClientSessionHealthCheckValidation"/> then stops
    /// the start with every error at once, and without a host each check reports its own error.
    /// </summary>
    private ClientSessionHealthCheckOptions Thresholds(string name)
    {
        try
        {
            return thresholds.Get(name);
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            return new ClientSessionHealthCheckOptions();
        }
    }
}
