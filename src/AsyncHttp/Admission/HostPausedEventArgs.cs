namespace AsyncHttp;

/// <summary>A response's <c>Retry-After</c> paused admission to a host (<see cref="Connector.HostPaused"/>).</summary>
public sealed class HostPausedEventArgs : EventArgs
{
    /// <summary>Creates the event's data.</summary>
    /// <param name="host">The host, as <c>scheme://host:port/</c>.</param>
    /// <param name="duration">How long admission to it pauses.</param>
    /// <param name="sessionName">The session whose response said it.</param>
    public HostPausedEventArgs(Uri host, TimeSpan duration, string sessionName)
    {
        Host = host;
        Duration = duration;
        SessionName = sessionName;
    }

    /// <summary>The host, as <c>scheme://host:port/</c>; only its scheme, host and port count.</summary>
    public Uri Host { get; }

    /// <summary>How long admission to the host pauses, from now.</summary>
    public TimeSpan Duration { get; }

    /// <summary>The session whose response said <c>Retry-After</c>.</summary>
    public string SessionName { get; }
}
