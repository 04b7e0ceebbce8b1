using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Tells the options monitor when any configuration bound into the named options of a session or a connector (its own
/// steps, and for a session the defaults) reloads.
/// </summary>
internal sealed class SetupChangeTokenSource<TOptions> : IOptionsChangeTokenSource<TOptions>
    where TOptions : class
{
    private static readonly IChangeToken NeverChanges = new CancellationChangeToken(CancellationToken.None);

    private readonly Func<IEnumerable<OptionsSetupStep<TOptions>>> _steps;
    private readonly IServiceProvider _services;

    /// <param name="name">The name of the options.</param>
    /// <param name="steps">The steps that configure them, read at each call (the catalog is complete once the host is built).</param>
    /// <param name="services">The application's services, where the configuration comes from.</param>
    public SetupChangeTokenSource(string name, Func<IEnumerable<OptionsSetupStep<TOptions>>> steps, IServiceProvider services)
    {
        Name = name;
        _steps = steps;
        _services = services;
    }

    public string Name { get; }

    public IChangeToken GetChangeToken()
    {
        // Sections of one configuration root share its reload token: watch each token once.
        List<IChangeToken> tokens = [];
        foreach (var step in _steps())
        {
            if (step.GetChangeToken(_services) is { } token && !tokens.Exists(t => ReferenceEquals(t, token)))
            {
                tokens.Add(token);
            }
        }

        return tokens.Count switch
        {
            0 => NeverChanges,
            1 => tokens[0],
            _ => new CompositeChangeToken(tokens),
        };
    }
}
