using System.Diagnostics.CodeAnalysis;

namespace AsyncHttp;

/// <summary>
/// The named <see cref="ClientSession"/>s of the application, one per name registered with <c>AddClientSession</c>
/// or <c>AddClientSessions</c>. A singleton: inject it where requests are made.
/// </summary>
/// <remarks>
/// Each session is created on first use, once, and lives until the host stops: do not dispose a session taken from
/// the registry. When configuration changes, the same instance applies the new settings to the requests that start
/// afterwards.
/// </remarks>
public interface ISessionRegistry
{
    /// <summary>
    /// The registered session names, in the order they were registered, each spelled as it was first registered (names
    /// are case-insensitive: <c>"Priority"</c> and <c>"priority"</c> are one session).
    /// </summary>
    IReadOnlyCollection<string> Names { get; }

    /// <summary>Returns the session named <paramref name="name"/>, creating it on first use.</summary>
    /// <param name="name">A name registered with <c>AddClientSession</c> or <c>AddClientSessions</c>, in any case.</param>
    /// <returns>The same instance on every call for one name.</returns>
    /// <exception cref="KeyNotFoundException">No session has that name; the message lists the names there are.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">
    /// The session's settings are invalid and none valid were seen before: the host has not started (a started host has
    /// validated them; an invalid reload after that is logged, and the session uses its last valid settings).
    /// </exception>
    /// <exception cref="ObjectDisposedException">The registry was closed (the host stopped) or disposed.</exception>
    ClientSession GetSession(string name);

    /// <summary>Gets the session named <paramref name="name"/>, creating it on first use, if that name is registered.</summary>
    /// <param name="name">The session name, in any case.</param>
    /// <param name="session">The session, or <see langword="null"/> when no session has that name.</param>
    /// <returns><see langword="true"/> when a session has that name.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">
    /// The session's settings are invalid and none valid were seen before: the host has not started (a started host has
    /// validated them; an invalid reload after that is logged, and the session uses its last valid settings).
    /// </exception>
    /// <exception cref="ObjectDisposedException">The registry was closed (the host stopped) or disposed.</exception>
    bool TryGetSession(string name, [NotNullWhen(true)] out ClientSession? session);
}
