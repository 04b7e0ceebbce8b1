using AsyncHttp;
using AsyncHttp.Internal;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Http.Resilience;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Sends the requests of an <see cref="IHttpClientFactory"/> client through a named <see cref="ClientSession"/>.</summary>
public static class ClientSessionHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes the session named <paramref name="sessionName"/> (registered with <c>AddClientSession</c> or
    /// <c>AddClientSessions</c>) the primary handler of this client: its requests take the session's slots and wait in its
    /// queue (one <see cref="ClientSessionOptions.Limit"/> for every client and caller of the session), under its
    /// timeouts, middlewares, cookies and redirect policy, and the host's shutdown drains them with the session's own.
    /// Works with named, typed and keyed clients, and with Refit's <c>AddRefitClient&lt;T&gt;()</c>.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The factory's handler rotation (<see cref="HttpClientFactoryOptions.HandlerLifetime"/>) builds a new handler
    /// chain now and then; the session's handler holds no connections, so the rotation creates neither a pool nor a
    /// connector: the session's connector and its connections live on.
    /// </para>
    /// <para>
    /// Each <see cref="HttpClient"/> the factory creates gets the session's <see cref="ClientSession.BaseAddress"/>
    /// when it has none of its own, and its <see cref="HttpClient.MaxResponseContentBufferSize"/> lowered to the
    /// session's <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/>: the smaller of the two bounds what
    /// <see cref="HttpClient"/> buffers. Both are read when the client is created, so they follow the session's reloads.
    /// <see cref="HttpClient.Timeout"/> (100 s unless set) still applies on top of the session's
    /// <see cref="ClientTimeout.Total"/> and counts the time in the queue too; set it to
    /// <see cref="Timeout.InfiniteTimeSpan"/> to leave the session's timeouts in charge.
    /// </para>
    /// <para>
    /// The standard resilience and hedging handlers of this client (<c>AddStandardResilienceHandler()</c>,
    /// <c>AddStandardHedgingHandler()</c>, called before or after this method) are post-configured so that their
    /// <c>ShouldHandle</c> predicates (retry, hedging, circuit breakers) leave the session's own rejections alone
    /// (<see cref="ClientSessionResiliencePredicates.IsSessionRejection"/>). Each retry or hedged attempt is admitted on
    /// its own: it waits in the session's queue like any request.
    /// </para>
    /// <para>
    /// The host fails to start when no session has that name (names are case-insensitive).
    /// </para>
    /// </remarks>
    /// <param name="builder">The client's builder.</param>
    /// <param name="sessionName">The name of the session, in any case.</param>
    /// <returns>The builder.</returns>
    /// <example>
    /// <code>
    /// builder.Services.AddClientSession("bulk", o =&gt; o.Limit = 4);
    /// builder.Services.AddHttpClient&lt;GitHubClient&gt;().UseClientSession("bulk");
    /// </code>
    /// </example>
    public static IHttpClientBuilder UseClientSession(this IHttpClientBuilder builder, string sessionName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionName);
        var clientName = builder.Name;

        builder.ConfigurePrimaryHttpMessageHandler(services => SessionOf(services.GetService<ISessionRegistry>(), sessionName).CreateHandler());

        // After every ConfigureHttpClient of the client, whichever came first: the client's own settings win, and the
        // smaller buffer cap.
        builder.Services.AddOptions<HttpClientFactoryOptions>(clientName)
            .PostConfigure<IServiceProvider>((options, services) =>
            {
                // The registry is a singleton: looked up once, not on each CreateClient (a client per call is the factory's way).
                var registry = services.GetService<ISessionRegistry>();
                options.HttpClientActions.Add(client => ApplySessionDefaults(client, SessionOf(registry, sessionName)));
            })
            .Validate<IServiceProvider>(
                (_, services) => services.GetService<ISessionRegistry>() is { } registry && registry.Names.Contains(sessionName, StringComparer.OrdinalIgnoreCase),
                $"HttpClient '{clientName}' uses client session '{sessionName}' (UseClientSession), but no session has that name; register it with services.AddClientSession(\"{sessionName}\") or in the configuration section given to AddClientSessions.")
            .ValidateOnStart();

        builder.Services.PostConfigure<HttpStandardResilienceOptions>(SessionRejectionFilter.StandardOptionsName(clientName), SessionRejectionFilter.Apply);
        builder.Services.PostConfigure<HttpStandardHedgingResilienceOptions>(SessionRejectionFilter.HedgingOptionsName(clientName), SessionRejectionFilter.Apply);
        return builder;
    }

    private static ClientSession SessionOf(ISessionRegistry? registry, string name)
        => registry?.GetSession(name)
        ?? throw new InvalidOperationException($"No client sessions are registered, so UseClientSession(\"{name}\") has none to use; register it with services.AddClientSession(\"{name}\").");

    private static void ApplySessionDefaults(HttpClient client, ClientSession session)
    {
        client.BaseAddress ??= session.BaseAddress;
        if (session.MaxResponseContentBufferSize < client.MaxResponseContentBufferSize)
        {
            client.MaxResponseContentBufferSize = session.MaxResponseContentBufferSize;
        }
    }
}
