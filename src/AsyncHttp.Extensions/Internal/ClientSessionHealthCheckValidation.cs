using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Reads every session's health check options as the host starts, so that a bad threshold stops the host (as
/// <c>ValidateOnStart</c> does, which needs the names when it is called; sessions may be registered later).
/// </summary>
internal sealed class ClientSessionHealthCheckValidation(ClientSessionCatalog catalog, IOptionsMonitor<ClientSessionHealthCheckOptions> thresholds) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        // All errors at once, so that fixing one does not reveal the next at the following start.
        List<string> errors = [];
        foreach (var name in catalog.Names)
        {
            try
            {
                _ = thresholds.Get(name);
            }
            catch (OptionsValidationException ex)
            {
                errors.AddRange(ex.Failures);
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(ex.Message);
            }
        }

        return errors.Count == 0
            ? Task.CompletedTask
            : throw new OptionsValidationException(Options.DefaultName, typeof(ClientSessionHealthCheckOptions), errors.Distinct(StringComparer.Ordinal));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
