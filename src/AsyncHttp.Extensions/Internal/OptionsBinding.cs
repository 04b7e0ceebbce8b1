using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Binds a configuration section into session or connector options with the configuration binding source generator (no
/// reflection, so the package stays trimmable and AOT-compatible), rejecting unknown keys, and reports every bad key of
/// the section at once. The binder stops at the first bad key, which would hide the others (an unknown key hid a bad
/// value next to it): a section it refuses is probed key by key, and the keys that bind are bound, so that validation
/// sees their values too.
/// </summary>
internal static class OptionsBinding
{
    private const string ProbeRoot = "probe";

    /// <summary>
    /// The key of a session's section that belongs to the packages of distributed limits (AsyncHttp.Extensions.Redis
    /// binds <c>RateLimits</c> itself): the session's own binding passes over it.
    /// </summary>
    public const string RateLimitsKey = "RateLimits";

    private static readonly Action<BinderOptions> Strict = static binder => binder.ErrorOnUnknownConfiguration = true;

    /// <summary>The section at <paramref name="path"/> of the application's configuration; the whole of it for an empty path.</summary>
    public static IConfiguration Section(IServiceProvider services, string path)
    {
        var configuration = services.GetRequiredService<IConfiguration>();
        return path.Length == 0 ? configuration : configuration.GetSection(path);
    }

    /// <summary>Binds <paramref name="configuration"/> into <paramref name="options"/>.</summary>
    /// <returns>One message per bad key, naming its full path and never its value (it may be a secret); empty when all bind.</returns>
    public static List<string> Bind(IConfiguration configuration, ClientSessionOptions options)
        => Bind(WithoutRateLimits(configuration), options, static (c, o) => c.Bind(o, Strict), static () => new ClientSessionOptions(), PathOf(configuration));

    /// <inheritdoc cref="Bind(IConfiguration, ClientSessionOptions)"/>
    public static List<string> Bind(IConfiguration configuration, ConnectorOptions options)
        => Bind(WithoutRateLimits(configuration), options, static (c, o) => c.Bind(o, Strict), static () => new ConnectorOptions(), PathOf(configuration));

    /// <param name="configuration">The section.</param>
    /// <param name="options">The options to bind into.</param>
    /// <param name="bind">
    /// Binds a section into options of the concrete type: a lambda at each entry point above, so that the source
    /// generator intercepts each Bind call with its type.
    /// </param>
    /// <param name="create">New options, for probing one key at a time.</param>
    /// <param name="section">The path of the section, as errors name it; null for the configuration root.</param>
    private static List<string> Bind<TOptions>(IConfiguration configuration, TOptions options, Action<IConfiguration, TOptions> bind, Func<TOptions> create, string? section)
    {
        try
        {
            bind(configuration, options);
            return [];
        }
        catch (InvalidOperationException)
        {
            // At least one bad key: each is found below.
        }

        List<string> errors = [];
        List<KeyValuePair<string, string?>> good = [];
        foreach (var leaf in Leaves(configuration, prefix: null))
        {
            try
            {
                bind(Probe([leaf]), create());
                good.Add(leaf);
            }
            catch (InvalidOperationException ex)
            {
                var error = Describe(ex, leaf.Key, section);
                if (!errors.Contains(error))
                {
                    errors.Add(error);
                }
            }
        }

        try
        {
            // The first attempt may have stopped halfway: bind again every key that binds on its own.
            bind(Probe(good), options);
        }
        catch (InvalidOperationException ex)
        {
            errors.Add($"the section '{section ?? "(configuration root)"}' could not be bound: {ex.GetType().Name}.");
        }

        return errors;
    }

    private static string? PathOf(IConfiguration configuration) => configuration is IConfigurationSection section ? section.Path : null;

    /// <summary>
    /// The section without its <see cref="RateLimitsKey"/> child, which a limits package binds; the section itself when
    /// it has none (the common case: no copy).
    /// </summary>
    private static IConfiguration WithoutRateLimits(IConfiguration configuration)
        => !configuration.GetSection(RateLimitsKey).Exists()
            ? configuration
            : Probe(Leaves(configuration, prefix: null).Where(static l => !l.Key.StartsWith(RateLimitsKey + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase)
                && !l.Key.Equals(RateLimitsKey, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Every key of <paramref name="node"/> that holds a value (JSON null included), relative to it.</summary>
    private static IEnumerable<KeyValuePair<string, string?>> Leaves(IConfiguration node, string? prefix)
    {
        foreach (var child in node.GetChildren())
        {
            var key = prefix is null ? child.Key : ConfigurationPath.Combine(prefix, child.Key);
            var parent = false;
            foreach (var leaf in Leaves(child, key))
            {
                parent = true;
                yield return leaf;
            }

            if (!parent)
            {
                yield return new(key, child.Value);
            }
        }
    }

    /// <summary>
    /// A section holding only <paramref name="leaves"/>, as the original's sections hold them (a key present with a
    /// null value stays present, as JSON null is).
    /// </summary>
    private static IConfigurationSection Probe(IEnumerable<KeyValuePair<string, string?>> leaves)
        => new ConfigurationBuilder()
            .AddInMemoryCollection(leaves.Select(static l => new KeyValuePair<string, string?>(ConfigurationPath.Combine(ProbeRoot, l.Key), l.Value)))
            .Build()
            .GetSection(ProbeRoot);

    /// <summary>
    /// What is wrong with the key <paramref name="key"/> (relative to <paramref name="section"/>), from the binder's
    /// error on a section holding only that key: an unknown key (the binder names it: "... not found on the instance of
    /// T: 'Limt'") or a value it cannot convert ("... to type 'T'", the cause as inner exception).
    /// </summary>
    private static string Describe(InvalidOperationException error, string key, string? section)
    {
        const string OnType = "not found on the instance of ";
        const string ToType = " to type '";
        var message = error.Message;
        var path = section is null ? key : ConfigurationPath.Combine(section, key);
        if (error.InnerException is null && message.IndexOf(OnType, StringComparison.Ordinal) is var on and >= 0
            && message.IndexOf(": '", on, StringComparison.Ordinal) is var colon and >= 0)
        {
            // The unknown key is one of the path's segments: report the path down to it, once for all the keys below.
            var type = message[(on + OnType.Length)..colon];
            var unknown = message[(colon + 3)..].TrimEnd('\'');
            var segments = key.Split(ConfigurationPath.KeyDelimiter);
            var depth = Array.FindIndex(segments, seg => seg.Equals(unknown, StringComparison.OrdinalIgnoreCase));
            var unknownPath = depth < 0 ? path : ConfigurationPath.Combine([.. (section is null ? [] : new[] { section }), .. segments[..(depth + 1)]]);
            return $"unknown configuration key '{unknownPath}': not a setting of {type}; check the spelling.";
        }

        var to = message.LastIndexOf(ToType, StringComparison.Ordinal);
        var target = to < 0 ? null : message[(to + ToType.Length)..].TrimEnd('.', '\'');
        var format = target switch
        {
            "System.Int32" or "System.Int64" => "whole number",
            "System.Boolean" => "boolean (true or false)",
            "System.TimeSpan" => "time span (hh:mm:ss, or d.hh:mm:ss)",
            "System.Uri" => "URL",
            null => "value",
            _ => target,
        };
        return $"'{path}' is not a valid {format}; fix the value there.";
    }
}
