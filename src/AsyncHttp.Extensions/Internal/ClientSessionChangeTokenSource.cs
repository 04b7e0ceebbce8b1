using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace AsyncHttp.Extensions.Internal;

/// <summary>Tells the options monitor when any configuration bound into a session's options (its own or the defaults) reloads.</summary>
internal sealed class ClientSessionChangeTokenSource : IOptionsChangeTokenSource<ClientSessionOptions>
{
    private static readonly IChangeToken NeverChanges = new CancellationChangeToken(CancellationToken.None);

    private readonly ClientSessionCatalog _catalog;
    private readonly IServiceProvider _services;

    public ClientSessionChangeTokenSource(string name, ClientSessionCatalog catalog, IServiceProvider services)
    {
        Name = name;
        _catalog = catalog;
        _services = services;
    }

    public string Name { get; }

    public IChangeToken GetChangeToken()
    {
        // Sections of one configuration root share its reload token: watch each token once.
        List<IChangeToken> tokens = [];
        foreach (var step in _catalog.Defaults.Concat(_catalog.StepsOf(Name)))
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
