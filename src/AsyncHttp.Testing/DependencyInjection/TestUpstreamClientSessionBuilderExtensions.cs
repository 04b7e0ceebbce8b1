using AsyncHttp;
using AsyncHttp.Testing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Plugs a <see cref="TestUpstream"/> into a session registered with <c>AddClientSession</c>, or a connector registered with <c>AddClientConnector</c>.</summary>
public static class TestUpstreamClientSessionBuilderExtensions
{
    /// <summary>
    /// Sends the session's requests to <paramref name="upstream"/> instead of the network, after the earlier steps
    /// (the app's own registration and configuration stay as they are). Delays run on the host's
    /// <see cref="TimeProvider"/>: register a <c>FakeTimeProvider</c> as the <see cref="TimeProvider"/> service to
    /// drive them.
    /// </summary>
    /// <param name="builder">The session builder.</param>
    /// <param name="upstream">The fake upstream.</param>
    /// <returns>The builder.</returns>
    /// <example>
    /// In a <c>WebApplicationFactory</c>:
    /// <c>builder.ConfigureTestServices(s =&gt; s.AddClientSession("catalog").UseTestUpstream(upstream));</c>
    /// </example>
    public static IClientSessionBuilder UseTestUpstream(this IClientSessionBuilder builder, TestUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(upstream);
        return builder.ConfigureOptions(options => options.UseTestUpstream(upstream));
    }

    /// <summary>
    /// Sends the requests of every session on the shared connector to <paramref name="upstream"/> instead of the
    /// network, after the earlier steps: a session on a shared connector takes its transport from the connector, so
    /// this is where the fake goes for it. Delays run on the host's <see cref="TimeProvider"/>.
    /// </summary>
    /// <param name="builder">The connector builder.</param>
    /// <param name="upstream">The fake upstream.</param>
    /// <returns>The builder.</returns>
    /// <example><c>services.AddClientConnector("upstream").UseTestUpstream(upstream);</c></example>
    public static IClientConnectorBuilder UseTestUpstream(this IClientConnectorBuilder builder, TestUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(upstream);
        return builder.ConfigureOptions(options => options.UseTestUpstream(upstream));
    }
}
