namespace AsyncHttp.Testing;

/// <summary>Plugs a <see cref="TestUpstream"/> into a session or a shared connector created in code.</summary>
public static class TestUpstreamOptionsExtensions
{
    /// <summary>
    /// Sends the session's requests to <paramref name="upstream"/> instead of the network: sets
    /// <see cref="ClientSessionOptions.TransportFactory"/>. Everything above the socket layer works as in production.
    /// </summary>
    /// <param name="options">The session's options.</param>
    /// <param name="upstream">The fake upstream.</param>
    /// <returns>The options, for chaining.</returns>
    /// <example><c>new ClientSession("bulk", new ClientSessionOptions { Limit = 1 }.UseTestUpstream(upstream), timeProvider: time)</c></example>
    public static ClientSessionOptions UseTestUpstream(this ClientSessionOptions options, TestUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(upstream);
        options.TransportFactory = upstream.CreateTransport;
        return options;
    }

    /// <summary>
    /// Sends the requests of every session on a shared connector to <paramref name="upstream"/> instead of the network:
    /// sets <see cref="ConnectorOptions.TransportFactory"/> (a session on a shared connector cannot set its own). Each
    /// request received names the session that sent it (<see cref="TestRequest.SessionName"/>).
    /// </summary>
    /// <param name="options">The connector's options.</param>
    /// <param name="upstream">The fake upstream.</param>
    /// <returns>The options, for chaining.</returns>
    /// <example><c>new Connector("upstream", new ConnectorOptions { Limit = 4 }.UseTestUpstream(upstream), time)</c></example>
    public static ConnectorOptions UseTestUpstream(this ConnectorOptions options, TestUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(upstream);
        options.TransportFactory = upstream.CreateTransport;
        return options;
    }
}
