using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// What a transport factory (<see cref="ConnectorOptions.TransportFactory"/>, or
/// <see cref="ClientSessionOptions.TransportFactory"/> of a session that owns its connector) is given when a connector
/// builds its transport: the connector it serves and the clock the sessions on it keep their timeouts on.
/// </summary>
public sealed class ClientTransportContext
{
    /// <summary>Creates the context.</summary>
    /// <param name="sessionName">The name of the connector (for a connector a session owns, the session's name).</param>
    /// <param name="timeProvider">The connector's clock.</param>
    public ClientTransportContext(string sessionName, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionName);
        ArgumentNullException.ThrowIfNull(timeProvider);
        SessionName = sessionName;
        TimeProvider = timeProvider;
    }

    /// <summary>
    /// The name of the session the transport serves, for a connector a session owns; for a shared connector, the
    /// connector's name: <see cref="GetSessionName"/> tells which session sent a request.
    /// </summary>
    public string SessionName { get; }

    /// <summary>
    /// The connector's clock, the one its sessions' timeouts run on: a transport that waits (a fake upstream's delays)
    /// waits on it, so a test's <c>FakeTimeProvider</c> moves both.
    /// </summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>
    /// The name of the session that sent <paramref name="request"/>: on a shared connector, one transport serves several
    /// sessions. <see cref="SessionName"/> for a request no session sent.
    /// </summary>
    /// <param name="request">A request the transport was given.</param>
    /// <returns>The session's name.</returns>
    public string GetSessionName(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RequestContext.Of(request)?.Session.Name ?? SessionName;
    }
}
