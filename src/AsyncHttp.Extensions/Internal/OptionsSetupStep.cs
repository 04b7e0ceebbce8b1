using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace AsyncHttp.Extensions.Internal;

/// <summary>One step that configures session or connector options: a code delegate, or binding a configuration section.</summary>
internal sealed class OptionsSetupStep<TOptions>
    where TOptions : class
{
    private readonly Action<TOptions>? _configure;
    private readonly Func<IServiceProvider, IConfiguration>? _configuration;
    private readonly Func<IConfiguration, TOptions, List<string>>? _bind;

    private OptionsSetupStep(Action<TOptions>? configure, Func<IServiceProvider, IConfiguration>? configuration, Func<IConfiguration, TOptions, List<string>>? bind)
    {
        _configure = configure;
        _configuration = configuration;
        _bind = bind;
    }

    public static OptionsSetupStep<TOptions> FromDelegate(Action<TOptions> configure) => new(configure, null, null);

    /// <param name="configuration">The section, from the application's services.</param>
    /// <param name="bind">Binds it (one of <see cref="OptionsBinding"/>'s), returning the bad keys.</param>
    public static OptionsSetupStep<TOptions> FromConfiguration(Func<IServiceProvider, IConfiguration> configuration, Func<IConfiguration, TOptions, List<string>> bind)
        => new(null, configuration, bind);

    public void Apply(TOptions options, IServiceProvider services, ClientSessionOptionsState state)
    {
        if (_configure is not null)
        {
            _configure(options);
            return;
        }

        // Recorded rather than thrown: validation reports them with the session's or connector's name at start, and a
        // reload with them is logged and ignored instead of failing the reload.
        foreach (var error in _bind!(_configuration!(services), options))
        {
            state.AddBindingError(options, error);
        }
    }

    /// <summary>The token that fires when the bound configuration reloads; null for a code delegate.</summary>
    public IChangeToken? GetChangeToken(IServiceProvider services)
        => _configuration?.Invoke(services).GetReloadToken();
}
