namespace AsyncHttp;

/// <summary>
/// One-shot requests, as aiohttp's <c>aiohttp.request(...)</c>: each call makes a session for itself, sends one
/// request through it, and closes the session (and its connection) once the response is released. For a script, a
/// test, a tool that makes one call. Anything that makes many calls should keep a <see cref="ClientSession"/>: a
/// one-shot call pays for a new connection (TCP, and TLS over https) and a new transport every time, where a session
/// reuses a kept-alive connection (docs/benchmarks.md has the figures).
/// </summary>
/// <example>
/// <code>
/// await using var response = await AsyncHttpClient.GetAsync("https://example.com/");
/// response.EnsureSuccessStatusCode();
/// var text = await response.ReadAsStringAsync();   // the session closes once the body has been read
/// </code>
/// </example>
public static class AsyncHttpClient
{
    /// <summary>The name of the session a one-shot request makes: its logs, metrics and errors carry it.</summary>
    public const string SessionName = "one-shot";

    /// <summary>Sends a GET request through a session made for it; returns once the headers are in.</summary>
    /// <param name="url">An absolute http or https URL (or one relative to <paramref name="sessionOptions"/>' <see cref="ClientSessionOptions.BaseAddress"/>).</param>
    /// <param name="options">Per-request headers, timeouts and status handling, as for <see cref="ClientSession.GetAsync(string, RequestOptions, CancellationToken)"/>.</param>
    /// <param name="sessionOptions">The settings of the session made for the call (its timeouts, proxy, version, ...); the defaults when null.</param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    /// <returns>
    /// The response: it holds the session, which closes when the response is released (its body read to its end, or
    /// the response disposed). Dispose it.
    /// </returns>
    /// <exception cref="ArgumentException">A setting is invalid, or the URL cannot be sent.</exception>
    public static Task<ClientResponse> GetAsync(string url, RequestOptions? options = null, ClientSessionOptions? sessionOptions = null, CancellationToken cancellationToken = default)
        => SendAsync(HttpMethod.Get, url, content: null, options, sessionOptions, cancellationToken);

    /// <summary>Sends a request through a session made for it; returns once the headers are in.</summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="url">An absolute http or https URL (or one relative to <paramref name="sessionOptions"/>' <see cref="ClientSessionOptions.BaseAddress"/>).</param>
    /// <param name="content">The request body, if any.</param>
    /// <param name="options">Per-request headers, timeouts and status handling, as for <see cref="ClientSession.SendAsync(HttpMethod, string, HttpContent, RequestOptions, CancellationToken)"/>.</param>
    /// <param name="sessionOptions">
    /// The settings of the session made for the call; the defaults when null. The session owns its connector:
    /// <see cref="ClientSessionOptions.Connector"/> must not be set.
    /// </param>
    /// <param name="cancellationToken">Cancels the request; gives <see cref="OperationCanceledException"/>.</param>
    /// <returns>The response, which holds the session until it is released. Dispose it.</returns>
    /// <exception cref="ArgumentException">A setting is invalid, or the URL cannot be sent.</exception>
    public static async Task<ClientResponse> SendAsync(
        HttpMethod method,
        string url,
        HttpContent? content = null,
        RequestOptions? options = null,
        ClientSessionOptions? sessionOptions = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(url);
        if (sessionOptions?.Connector is { } connector)
        {
            throw new ArgumentException(
                $"A one-shot request's session owns its connector: Connector must not be set (it is '{connector}'). Use a ClientSession on that connector instead.",
                nameof(sessionOptions));
        }

        var session = new ClientSession(SessionName, sessionOptions);
        ClientResponse response;
        try
        {
            response = await session.SendAsync(method, url, content, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        // A graceful close: the session stops admitting at once, and closes its connector (the connection) once the
        // response's slot comes back, at the end of its body, when it is disposed, or when Total fires. A response
        // dropped without either is reclaimed by the collector, as any session's, and the close completes then.
        _ = session.CloseAsync(CancellationToken.None);
        return response;
    }
}
