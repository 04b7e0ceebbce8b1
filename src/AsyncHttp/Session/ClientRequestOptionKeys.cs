namespace AsyncHttp;

/// <summary>
/// Keys of <see cref="HttpRequestMessage.Options"/> that a session's handler (<see cref="ClientSession.CreateHandler"/>)
/// reads: per-request settings for callers of <see cref="HttpClient"/>, as <see cref="RequestOptions"/> gives them to
/// callers of the session's own API.
/// </summary>
/// <example>
/// <code>
/// using var request = new HttpRequestMessage(HttpMethod.Get, "items/1");
/// request.Options.Set(ClientRequestOptionKeys.Timeout, new ClientTimeout { Total = TimeSpan.FromSeconds(5) });
/// using var response = await httpClient.SendAsync(request);
/// </code>
/// </example>
public static class ClientRequestOptionKeys
{
    /// <summary>
    /// Timeouts for this request, replacing the session's <see cref="ClientSessionOptions.Timeout"/> as a whole (as
    /// <see cref="RequestOptions.Timeout"/> does).
    /// </summary>
    public static readonly HttpRequestOptionsKey<ClientTimeout> Timeout = new("AsyncHttp.Timeout");

    /// <summary>Follow redirects (<see langword="true"/>, the default) or return the redirect response as it is.</summary>
    public static readonly HttpRequestOptionsKey<bool> AllowRedirects = new("AsyncHttp.AllowRedirects");

    /// <summary>The per-request settings a message carries; null when it carries none.</summary>
    internal static RequestOptions? Read(HttpRequestMessage request)
    {
        var options = request.Options;
        var hasTimeout = options.TryGetValue(Timeout, out var timeout);
        var hasRedirects = options.TryGetValue(AllowRedirects, out var allowRedirects);
        return hasTimeout || hasRedirects
            ? new RequestOptions { Timeout = hasTimeout ? timeout : null, AllowRedirects = hasRedirects ? allowRedirects : null }
            : null;
    }
}
