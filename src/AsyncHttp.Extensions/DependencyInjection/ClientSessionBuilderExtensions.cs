using System.Diagnostics.CodeAnalysis;
using AsyncHttp;
using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures a named <see cref="ClientSession"/> registered with <c>AddClientSession</c>.</summary>
public static class ClientSessionBuilderExtensions
{
    /// <summary>
    /// Binds the session's options from the section at <paramref name="configSectionPath"/> of the application's
    /// <see cref="IConfiguration"/> (such as <c>AsyncHttp:Sessions:bulk</c>), after the earlier steps. Unknown keys
    /// are rejected (<see cref="BinderOptions.ErrorOnUnknownConfiguration"/>): the host does not start, and a reload
    /// with one is logged and ignored. Reloads of the configuration reach the session.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="configSectionPath">The section path, with <c>:</c> between keys.</param>
    /// <returns>The builder.</returns>
    public static IClientSessionBuilder BindConfiguration(this IClientSessionBuilder builder, string configSectionPath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configSectionPath);
        StepsOf(builder).Add(OptionsSetupStep<ClientSessionOptions>.FromConfiguration(sp => OptionsBinding.Section(sp, configSectionPath), OptionsBinding.Bind));
        return builder;
    }

    /// <summary>
    /// Binds the session's options from <paramref name="configuration"/>, after the earlier steps. Unknown keys are
    /// rejected as in <see cref="BindConfiguration(IClientSessionBuilder, string)"/>; reloads reach the session.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="configuration">The section with the session's settings.</param>
    /// <returns>The builder.</returns>
    public static IClientSessionBuilder Bind(this IClientSessionBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        StepsOf(builder).Add(OptionsSetupStep<ClientSessionOptions>.FromConfiguration(_ => configuration, OptionsBinding.Bind));
        return builder;
    }

    /// <summary>Configures the session's options in code, after the earlier steps.</summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The builder.</returns>
    public static IClientSessionBuilder ConfigureOptions(this IClientSessionBuilder builder, Action<ClientSessionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        StepsOf(builder).Add(OptionsSetupStep<ClientSessionOptions>.FromDelegate(configure));
        return builder;
    }

    /// <summary>Configures the headers sent with every request of the session, after the earlier steps.</summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="configure">Adds, replaces or removes headers (names are case-insensitive).</param>
    /// <returns>The builder.</returns>
    /// <example><c>.ConfigureHeaders(h =&gt; h["User-Agent"] = "my-app/1.0")</c></example>
    public static IClientSessionBuilder ConfigureHeaders(this IClientSessionBuilder builder, Action<IDictionary<string, string>> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        StepsOf(builder).Add(OptionsSetupStep<ClientSessionOptions>.FromDelegate(o => configure(o.Headers)));
        return builder;
    }

    /// <summary>Configures the session's timeouts, after the earlier steps.</summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="configure">Sets <see cref="ClientTimeout.Total"/>, <see cref="ClientTimeout.Connect"/>, ...</param>
    /// <returns>The builder.</returns>
    public static IClientSessionBuilder ConfigureTimeout(this IClientSessionBuilder builder, Action<ClientTimeout> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        StepsOf(builder).Add(OptionsSetupStep<ClientSessionOptions>.FromDelegate(o => configure(o.Timeout)));
        return builder;
    }

    /// <summary>
    /// Adds a middleware: a <see cref="DelegatingHandler"/> that wraps each request of the session (each redirect hop),
    /// inside the total timeout and outside admission. The first middleware added is the outermost.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="factory">
    /// Returns a new handler each time it is called, from the application's root service provider: the session calls
    /// it when it builds its pipeline, and again when a reload changes how it decodes bodies (<c>AutoDecompress</c>,
    /// <c>MaxDecompressedContentSize</c>). A new transport, which the connector builds, leaves the middlewares as they are.
    /// </param>
    /// <returns>The builder.</returns>
    public static IClientSessionBuilder AddMiddleware(this IClientSessionBuilder builder, Func<IServiceProvider, DelegatingHandler> factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        CatalogOf(builder).MiddlewaresOf(builder.Name).Add(factory);
        return builder;
    }

    /// <summary>
    /// Adds a middleware of type <typeparamref name="TMiddleware"/>, resolved from the root service provider when it is
    /// registered there (register it as transient: each pipeline needs its own instance) and created with its
    /// constructor's services otherwise. See <see cref="AddMiddleware(IClientSessionBuilder, Func{IServiceProvider, DelegatingHandler})"/>.
    /// </summary>
    /// <typeparam name="TMiddleware">The handler type.</typeparam>
    /// <param name="builder">The session builder.</param>
    /// <returns>The builder.</returns>
    /// <example><c>services.AddClientSession("bulk").AddMiddleware&lt;RetryHandler&gt;();</c></example>
    public static IClientSessionBuilder AddMiddleware<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TMiddleware>(this IClientSessionBuilder builder)
        where TMiddleware : DelegatingHandler
        => builder.AddMiddleware(static sp => ActivatorUtilities.GetServiceOrCreateInstance<TMiddleware>(sp));

    private static List<OptionsSetupStep<ClientSessionOptions>> StepsOf(IClientSessionBuilder builder) => CatalogOf(builder).StepsOf(builder.Name);

    /// <summary>
    /// Adds aiohttp-style trace callbacks to the session: request start, end, exception and redirect; queue wait;
    /// connection creation and reuse; DNS resolution and cache hits.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="factory">Returns the callbacks, from the application's root service provider, when the session is created.</param>
    /// <returns>The builder.</returns>
    /// <example><c>services.AddClientSession("bulk").AddTrace(_ =&gt; new ClientTrace { OnConnectionQueuedStart = e =&gt; ... });</c></example>
    public static IClientSessionBuilder AddTrace(this IClientSessionBuilder builder, Func<IServiceProvider, ClientTrace> factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        CatalogOf(builder).TracesOf(builder.Name).Add(factory);
        return builder;
    }

    /// <summary>
    /// Adds a limiter the session's requests must pass besides a slot (<see cref="ClientSessionOptions.Limiters"/>): a
    /// concurrency budget held until the response is released, or a rate budget, local or distributed. The factory runs
    /// once, when the session is created; the limiter lives as long as the session, and the host disposes it after the
    /// session closes.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="factory">Makes the limiter, from the application's root service provider.</param>
    /// <returns>The builder.</returns>
    /// <example>
    /// <c>.AddLimiter(_ =&gt; AdmissionLimiter.Create(new ConcurrencyLimiter(new() { PermitLimit = 10, QueueLimit = 1 })))</c>
    /// </example>
    public static IClientSessionBuilder AddLimiter(this IClientSessionBuilder builder, Func<IServiceProvider, AdmissionLimiter> factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        CatalogOf(builder).LimitersOf(builder.Name).Add(factory);
        return builder;
    }

    private static ClientSessionCatalog CatalogOf(IClientSessionBuilder builder)
        // A builder made elsewhere (a wrapper, a test double) is registered here first, which is idempotent.
        => builder is ClientSessionBuilder own ? own.Catalog : ((ClientSessionBuilder)builder.Services.AddClientSession(builder.Name)).Catalog;
}
