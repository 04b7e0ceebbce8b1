using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace AsyncHttp.Extensions.Internal;

/// <summary>One step that configures session options: a code delegate, or binding a configuration section.</summary>
internal sealed class ClientSessionSetupStep
{
    private readonly Action<ClientSessionOptions>? _configure;
    private readonly Func<IServiceProvider, IConfiguration>? _configuration;

    private ClientSessionSetupStep(Action<ClientSessionOptions>? configure, Func<IServiceProvider, IConfiguration>? configuration)
    {
        _configure = configure;
        _configuration = configuration;
    }

    public static ClientSessionSetupStep FromDelegate(Action<ClientSessionOptions> configure) => new(configure, null);

    public static ClientSessionSetupStep FromConfiguration(Func<IServiceProvider, IConfiguration> configuration) => new(null, configuration);

    public void Apply(ClientSessionOptions options, IServiceProvider services, ClientSessionOptionsState state)
    {
        if (_configure is not null)
        {
            _configure(options);
            return;
        }

        // Recorded rather than thrown: validation reports them with the session name at start, and a reload with them
        // is logged and ignored instead of failing the reload.
        foreach (var error in ClientSessionBinding.Bind(_configuration!(services), options))
        {
            state.AddBindingError(options, error);
        }
    }

    /// <summary>The token that fires when the bound configuration reloads; null for a code delegate.</summary>
    public IChangeToken? GetChangeToken(IServiceProvider services)
        => _configuration?.Invoke(services).GetReloadToken();
}
