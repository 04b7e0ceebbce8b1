using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// What the registration calls said: the session names and, for each, the steps that configure its options, its
/// middlewares and trace callbacks, in call order. Kept in the service collection as an instance so that every
/// registration call finds the same one; read-only once the service provider is built.
/// </summary>
/// <remarks>
/// Session names are case-insensitive, like configuration keys: <c>"Priority"</c> in appsettings.json and
/// <c>AddClientSession("priority")</c> are one session. <see cref="Normalize"/> is the one place a name given at an entry
/// point (registration, the registry, keyed services; later, handlers, connectors and health checks) becomes the name
/// the session is known by everywhere else: in its named options, its logs and metrics, and <see cref="Names"/>.
/// </remarks>
internal sealed class ClientSessionCatalog
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The steps that apply to every session, before the session's own.</summary>
    public List<OptionsSetupStep<ClientSessionOptions>> Defaults { get; } = [];

    /// <summary>The registered names, in registration order, each spelled as it was first registered.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>
    /// The name of the session <paramref name="name"/> designates, whatever its case: the spelling it was first
    /// registered with; <paramref name="name"/> itself when no session has it. Call it at every entry point that takes
    /// a session name from a caller.
    /// </summary>
    public string Normalize(string name) => _entries.TryGetValue(name, out var entry) ? entry.Name : name;

    /// <summary>True when a session has this name, in any case.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Registers a name; false when it was registered already, in any case.</summary>
    public bool TryAdd(string name) => _entries.TryAdd(name, new Entry(name)) && Added(name);

    public List<OptionsSetupStep<ClientSessionOptions>> StepsOf(string name) => _entries[name].Steps;

    /// <summary>The factories of the session's middlewares, outermost first.</summary>
    public List<Func<IServiceProvider, DelegatingHandler>> MiddlewaresOf(string name) => _entries[name].Middlewares;

    /// <summary>The factories of the session's trace callbacks.</summary>
    public List<Func<IServiceProvider, ClientTrace>> TracesOf(string name) => _entries[name].Traces;

    /// <summary>The factories of the session's limiters of admission.</summary>
    public List<Func<IServiceProvider, AdmissionLimiter>> LimitersOf(string name) => _entries[name].Limiters;

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

    private bool Added(string name)
    {
        _names.Add(name);
        return true;
    }

    private sealed class Entry(string name)
    {
        public string Name { get; } = name;

        public List<OptionsSetupStep<ClientSessionOptions>> Steps { get; } = [];

        public List<Func<IServiceProvider, DelegatingHandler>> Middlewares { get; } = [];

        public List<Func<IServiceProvider, ClientTrace>> Traces { get; } = [];

        public List<Func<IServiceProvider, AdmissionLimiter>> Limiters { get; } = [];
    }
}
