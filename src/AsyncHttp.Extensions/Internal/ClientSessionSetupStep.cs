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
            state.AddBindingError(options, Describe(ex.Message, configuration));
        }
    }

    /// <summary>
    /// Rewrites the binder's unknown-key message ("... not found on the instance of T: 'Limt'") into one that gives the
    /// full path of each unknown key, and its conversion message into one that names the key and the expected format
    /// but not the value, which may hold a secret (a password in a URL); other messages get the section.
    /// </summary>
    private static string Describe(string binderMessage, IConfiguration configuration)
    {
        const string UnknownKeys = "'ErrorOnUnknownConfiguration' was set";
        const string OnType = "not found on the instance of ";
        var section = configuration is IConfigurationSection s ? s.Path : "(configuration root)";
        if (DescribeConversion(binderMessage) is { } conversion)
        {
            return conversion;
        }

        var type = binderMessage.IndexOf(OnType, StringComparison.Ordinal);
        var colon = type < 0 ? -1 : binderMessage.IndexOf(": ", type, StringComparison.Ordinal);
        if (!binderMessage.StartsWith(UnknownKeys, StringComparison.Ordinal) || colon < 0)
        {
            return $"{binderMessage} (binding section '{section}')";
        }

        var typeName = binderMessage[(type + OnType.Length)..colon];
        var keys = binderMessage[(colon + 2)..].Split(", ").Select(k => k.Trim('\''));
        var paths = string.Join(", ", keys.Select(k => $"'{FindPath(configuration, k) ?? k}'"));
        return $"unknown configuration key {paths}: not a setting of {typeName}; check the spelling.";
    }

    /// <summary>
    /// "'{path}' is not a valid {format}." from the binder's "Failed to convert configuration value '{value}' at
    /// '{path}' to type '{type}'."; null for another message.
    /// </summary>
    private static string? DescribeConversion(string binderMessage)
    {
        const string Prefix = "Failed to convert configuration value '";
        const string At = "' at '";
        const string ToType = "' to type '";
        var toType = binderMessage.LastIndexOf(ToType, StringComparison.Ordinal);
        var at = toType < 0 ? -1 : binderMessage.LastIndexOf(At, toType, StringComparison.Ordinal);
        if (!binderMessage.StartsWith(Prefix, StringComparison.Ordinal) || at < Prefix.Length)
        {
            return null;
        }

        var path = binderMessage[(at + At.Length)..toType];
        var type = binderMessage[(toType + ToType.Length)..].TrimEnd('.', '\'');
        var format = type switch
        {
            "System.Int32" or "System.Int64" => "whole number",
            "System.Boolean" => "boolean (true or false)",
            "System.TimeSpan" => "time span (hh:mm:ss, or d.hh:mm:ss)",
            "System.Uri" => "URL",
            _ => type,
        };
        return $"'{path}' is not a valid {format}; fix the value there.";
    }

    /// <summary>The path of the shallowest section named <paramref name="key"/> (the binder reports keys without their parents).</summary>
    private static string? FindPath(IConfiguration configuration, string key)
    {
        IEnumerable<IConfigurationSection> level = configuration.GetChildren();
        for (var depth = 0; depth < 3; depth++)
        {
            var sections = level.ToList();
            if (sections.Find(c => string.Equals(c.Key, key, StringComparison.OrdinalIgnoreCase)) is { } found)
            {
                return found.Path;
            }

            level = sections.SelectMany(c => c.GetChildren());
        }

        return null;
    }

    /// <summary>The token that fires when the bound configuration reloads; null for a code delegate.</summary>
    public IChangeToken? GetChangeToken(IServiceProvider services)
        => _configuration?.Invoke(services).GetReloadToken();
}
