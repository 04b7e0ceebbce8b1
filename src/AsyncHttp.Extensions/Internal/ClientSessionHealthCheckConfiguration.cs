using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Binds the health check options of each session from a section shaped as the sessions' own configuration:
/// <c>Defaults</c> for every session, then <c>Sessions:{name}</c> for one. Unknown keys, and sessions that are not
/// registered, are rejected, so that a misspelt threshold does not silently keep its default.
/// </summary>
internal sealed class ClientSessionHealthCheckConfiguration(IConfiguration configuration, ClientSessionCatalog catalog) : IConfigureNamedOptions<ClientSessionHealthCheckOptions>
{
    public const string Defaults = "Defaults";
    public const string Sessions = "Sessions";

    public void Configure(string? name, ClientSessionHealthCheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is null || !catalog.Contains(name))
        {
            return;
        }

        CheckShape();
        Bind(configuration.GetSection(Defaults), options, name);
        Bind(configuration.GetSection(Sessions).GetSection(name), options, name);
    }

    public void Configure(ClientSessionHealthCheckOptions options) => Configure(Options.DefaultName, options);

    private void CheckShape()
    {
        foreach (var child in configuration.GetChildren())
        {
            if (!string.Equals(child.Key, Defaults, StringComparison.OrdinalIgnoreCase) && !string.Equals(child.Key, Sessions, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(
                    $"Unknown configuration key '{child.Path}' for the client session health checks: expected '{Defaults}' (thresholds of every session) and '{Sessions}:{{name}}' (one session's).");
            }
        }

        foreach (var session in configuration.GetSection(Sessions).GetChildren())
        {
            if (!catalog.Contains(session.Key))
            {
                var known = string.Join(", ", catalog.Names.Select(n => $"'{n}'"));
                throw new InvalidOperationException(
                    $"Configuration section '{session.Path}' sets the health check of client session '{session.Key}', which is not registered; the registered ones are {known}.");
            }
        }
    }

    private static void Bind(IConfigurationSection section, ClientSessionHealthCheckOptions options, string name)
    {
        try
        {
            // The source generator intercepts this call: no reflection, so the package stays trimmable.
            section.Bind(options, static binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"Health check of session '{name}': section '{section.Path}' does not bind: {ex.Message}", ex);
        }
    }
}
