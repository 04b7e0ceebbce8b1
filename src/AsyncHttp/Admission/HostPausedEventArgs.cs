namespace AsyncHttp;

/// <summary>Admission to a host paused, or its pause lengthened (<see cref="Connector.HostPaused"/>).</summary>
public sealed class HostPausedEventArgs : EventArgs
{
    /// <summary>Creates the event's data.</summary>
    /// <param name="host">The host, as <c>scheme://host:port/</c>.</param>
    /// <param name="duration">How long admission to it pauses.</param>
    /// <param name="sessionName">The session whose response said <c>Retry-After</c>; null for <see cref="Connector.PauseHost"/>.</param>
    public HostPausedEventArgs(Uri host, TimeSpan duration, string? sessionName)
    {
        Host = host;
        Duration = duration;
        SessionName = sessionName;
    }

    /// <summary>The host, as <c>scheme://host:port/</c>; only its scheme, host and port count.</summary>
    public Uri Host { get; }

    /// <summary>How long admission to the host pauses, from now.</summary>
    public TimeSpan Duration { get; }

    /// <summary>
    /// The session whose response said <c>Retry-After</c>; null for a pause from <see cref="Connector.PauseHost"/> (such
    /// as one another process shared).
    /// </summary>
    public string? SessionName { get; }

    /// <summary>True when a response of a session on the connector caused the pause (<see cref="SessionName"/> is set).</summary>
    public bool FromResponse => SessionName is not null;
}
