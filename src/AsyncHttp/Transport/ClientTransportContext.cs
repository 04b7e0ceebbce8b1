namespace AsyncHttp;

/// <summary>
/// What a <see cref="ClientSessionOptions.TransportFactory"/> is given when a session builds its transport: the
/// session it serves and the clock the session keeps its timeouts on.
/// </summary>
public sealed class ClientTransportContext
{
    /// <summary>Creates the context.</summary>
    /// <param name="sessionName">The name of the session.</param>
    /// <param name="timeProvider">The session's clock.</param>
    public ClientTransportContext(string sessionName, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionName);
        ArgumentNullException.ThrowIfNull(timeProvider);
        SessionName = sessionName;
        TimeProvider = timeProvider;
    }

    /// <summary>The name of the session.</summary>
    public string SessionName { get; }

    /// <summary>
    /// The session's clock, the one its timeouts run on: a transport that waits (a fake upstream's delays) waits on
    /// it, so a test's <c>FakeTimeProvider</c> moves both.
    /// </summary>
    public TimeProvider TimeProvider { get; }
}
