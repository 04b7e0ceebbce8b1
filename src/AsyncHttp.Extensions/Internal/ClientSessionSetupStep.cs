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

        var configuration = _configuration!(services);
        try
        {
            // The source generator intercepts this call: no reflection, so the package stays trimmable.
            configuration.Bind(options, static binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            // An unknown key or a value of the wrong type. Recorded rather than thrown: validation reports it with the
            // session name at start, and a reload with it is logged and ignored instead of failing the reload.
            var where = configuration is IConfigurationSection section ? section.Path : "(configuration root)";
            state.AddBindingError(options, $"{where}: {Describe(ex.Message)}");
        }
    }

    /// <summary>Rewrites the binder's unknown-key message into one that leads with the keys.</summary>
    private static string Describe(string binderMessage)
    {
        const string UnknownKeys = "'ErrorOnUnknownConfiguration' was set";
        const string OnType = "not found on the instance of ";
        var type = binderMessage.IndexOf(OnType, StringComparison.Ordinal);
        if (!binderMessage.StartsWith(UnknownKeys, StringComparison.Ordinal) || type < 0)
        {
            return binderMessage;
        }

        var rest = binderMessage.AsSpan(type + OnType.Length);
        var colon = rest.IndexOf(": ", StringComparison.Ordinal);
        return colon < 0
            ? binderMessage
            : $"unknown configuration key {rest[(colon + 2)..]}: not a setting of {rest[..colon]}; check the spelling.";
    }

    /// <summary>The token that fires when the bound configuration reloads; null for a code delegate.</summary>
    public IChangeToken? GetChangeToken(IServiceProvider services)
        => _configuration?.Invoke(services).GetReloadToken();
}
