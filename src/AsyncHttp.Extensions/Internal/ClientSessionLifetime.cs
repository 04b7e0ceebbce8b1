using Microsoft.Extensions.Hosting;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Ties the sessions to the host: once the options have been validated at start, invalid reloads are logged instead of
/// thrown; the sessions are closed in <see cref="StoppedAsync"/>, which the host calls after every hosted service's
/// <see cref="IHostedService.StopAsync"/>, so the application's own services can still make requests while they stop,
/// whatever the order of registration.
/// </summary>
internal sealed class ClientSessionLifetime : IHostedLifecycleService
{
    private readonly SessionRegistry _registry;
    private readonly ClientSessionOptionsState _state;

    public ClientSessionLifetime(SessionRegistry registry, ClientSessionOptionsState state)
    {
        _registry = registry;
        _state = state;
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _state.MarkHostStarted();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <param name="cancellationToken">Cancelled when the host's shutdown timeout ends: requests still in flight are aborted then.</param>
    public Task StoppedAsync(CancellationToken cancellationToken) => _registry.CloseAsync(cancellationToken);
}
