using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// What the registration calls said: the session names and, for each, the steps that configure its options, in call
/// order. Kept in the service collection as an instance so that every registration call finds the same one; read-only
/// once the service provider is built.
/// </summary>
internal sealed class ClientSessionCatalog
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, List<ClientSessionSetupStep>> _steps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Func<IServiceProvider, DelegatingHandler>>> _middlewares = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Func<IServiceProvider, ClientTrace>>> _traces = new(StringComparer.Ordinal);

    /// <summary>The steps that apply to every session, before the session's own.</summary>
    public List<ClientSessionSetupStep> Defaults { get; } = [];

    /// <summary>The registered names, in registration order.</summary>
    public IReadOnlyList<string> Names => _names;

    public bool Contains(string name) => _steps.ContainsKey(name);

    /// <summary>Registers a name; false when it was registered already.</summary>
    public bool TryAdd(string name)
    {
        if (_steps.ContainsKey(name))
        {
            return false;
        }

        _steps.Add(name, []);
        _middlewares.Add(name, []);
        _traces.Add(name, []);
        _names.Add(name);
        return true;
    }

    public List<ClientSessionSetupStep> StepsOf(string name) => _steps[name];

    /// <summary>The factories of the session's middlewares, outermost first.</summary>
    public List<Func<IServiceProvider, DelegatingHandler>> MiddlewaresOf(string name) => _middlewares[name];

    /// <summary>The factories of the session's trace callbacks.</summary>
    public List<Func<IServiceProvider, ClientTrace>> TracesOf(string name) => _traces[name];

    /// <summary>Finds the catalog of <paramref name="services"/>, adding it on first use.</summary>
    public static ClientSessionCatalog From(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(ClientSessionCatalog) && !descriptor.IsKeyedService
                && descriptor.ImplementationInstance is ClientSessionCatalog catalog)
            {
                return catalog;
            }
        }

        var added = new ClientSessionCatalog();
        services.AddSingleton(added);
        return added;
    }
}
