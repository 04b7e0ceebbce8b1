using System.Net;
using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>
/// The transport stage: a <see cref="SocketsHttpHandler"/> configured from the connector's options, whose connect
/// callback resolves through the DNS cache, bounds the making of each connection (<see cref="ConnectAttempt"/>: Connect's
/// budget, SockConnect over the address attempts and TLS), and counts connections for the connector (or the handler of
/// <see cref="ConnectorOptions.TransportFactory"/>, which replaces all of that); either one behind the
/// <see cref="HeaderGuard"/>, which every request passes last. The connector owns it, and every session on the
/// connector sends through it: a connection one session opened may carry another's request to the same host.
/// </summary>
internal static class Transport
{
    /// <param name="options">The connection settings.</param>
    /// <param name="proxies">The proxy each request goes through, if any (<see cref="ProxySelection.From"/> of <paramref name="options"/>).</param>
    /// <param name="connector">The connector that owns the transport and counts its connections.</param>
    /// <param name="time">The connector's clock.</param>
    /// <param name="telemetry">
    /// Where a connection reports when no session sent the request that opened it; one a session sent reports to that
    /// session (its traces, its log).
    /// </param>
    public static HttpMessageHandler Create(TransportSettings options, ProxySelection? proxies, Connector connector, TimeProvider time, SessionTelemetry telemetry)
    {
        if (CustomTransport.Create(options, connector.Name, time) is { } custom)
        {
            return new HeaderGuard(custom);
        }

        foreach (var ignored in proxies?.Ignored ?? [])
        {
            telemetry.ProxyIgnored(ignored);
        }

        var dns = new DnsCache(options.DnsCacheTtl, time, options.Resolver);

        // Cancelled when the transport is disposed: a connection still being established then closes (the handler
        // would let it run on for its pending-connection timeout, 5 s by default, after the session has closed).
        var closing = new CancellationTokenSource();
        var handler = new SocketsHttpHandler
        {
            // Admission bounds requests in flight; this bounds the HTTP/1.x connections behind them (see
            // ConnectionsPerServerFor). A connection to a proxy carries requests to any host: Limit bounds those.
            // A reload that changes the limits builds a new transport.
            MaxConnectionsPerServer = proxies is null ? options.ConnectionsPerServer : options.ConnectionsPerProxy,

            // With HTTP/2 a slot is a stream. One connection per host would queue the streams beyond the server's
            // SETTINGS_MAX_CONCURRENT_STREAMS inside the handler, out of sight of admission: another connection opens
            // instead, so every admitted request is on the wire.
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = options.ForceClose ? TimeSpan.Zero : options.KeepAliveTimeout,
            PooledConnectionLifetime = options.ForceClose ? TimeSpan.Zero : System.Threading.Timeout.InfiniteTimeSpan,
            AllowAutoRedirect = false,
            UseCookies = false,

            // The connector's proxies only, never the process's (HttpClient.DefaultProxy): the handler sends requests to
            // http URLs through it; https ones tunnel in the connect callback.
            UseProxy = proxies is not null,
            Proxy = proxies,
            // Decoding happens above admission (DecodingStream), so the decoded size can be capped.
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseHeadersLength = options.MaxResponseHeadersLength,
            // A request with Expect: 100-continue sends its body after this without an answer (ExpectContinue).
            Expect100ContinueTimeout = options.ExpectContinueTimeout,
            // A body not read to its end is closed with its response, as aiohttp closes it, never drained in the
            // background: a drain would keep the connection open after its slot went back, and the next request would
            // open another (Limit = 2 once held 20 connections open this way). With no drain allowed, disposing the
            // content disposes the connection at once, unless the rest of the body is already in its buffer. (HTTP/2
            // resets the stream instead; its connection carries on.)
            MaxResponseDrainSize = 0,
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, connector, options, proxies, dns, time, TelemetryOf(context.InitialRequestMessage, telemetry), closing.Token, cancellationToken),
            // The transport's System.Net.Http metrics go to the connector's meter factory (the host's), as IHttpClientFactory's do.
            MeterFactory = telemetry.Metrics.MeterFactory,
            PlaintextStreamFilter = static (context, _) => ConnectAttempt.MarkEstablished(context.InitialRequestMessage, context.PlaintextStream, context.NegotiatedHttpVersion.Major >= 2),
        };

        if (options.DangerousAcceptAnyServerCertificate)
        {
#pragma warning disable CA5359 // The caller opted out of validation explicitly, by a setting named Dangerous.
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        else if (options.ServerCertificateValidationCallback is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }

        HttpMessageHandler wire = proxies is { HasCredentials: true } ? new ProxyAuthorizationHandler(handler, proxies) : handler;
        return new HeaderGuard(wire, onDisposed: closing.Cancel);
    }

    /// <summary>The session that sent <paramref name="request"/> reports its connection; <paramref name="connector"/>'s telemetry otherwise.</summary>
    private static SessionTelemetry TelemetryOf(HttpRequestMessage request, SessionTelemetry connector)
        => RequestContext.Of(request)?.Session.Telemetry ?? connector;

    /// <summary>
    /// Makes a connection for the handler: to the host, to the proxy for a request to an http URL through one (the
    /// handler sends the request to the proxy), or a <c>CONNECT</c> tunnel through the proxy for an https URL (the handler
    /// then does TLS with the host over it). One <see cref="ConnectAttempt"/>, keyed by the request, covers the
    /// reservation, DNS, the address attempts (Happy Eyeballs), the tunnel and the TLS handshake.
    /// </summary>
    private static async ValueTask<Stream> ConnectAsync(
        SocketsHttpConnectionContext context,
        Connector connector,
        TransportSettings settings,
        ProxySelection? proxies,
        DnsCache dns,
        TimeProvider time,
        SessionTelemetry telemetry,
        CancellationToken closing,
        CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var requestContext = RequestContext.Of(request);
        var endPoint = context.DnsEndPoint;
        var scheme = request.RequestUri?.Scheme ?? Uri.UriSchemeHttp;
        var proxy = request.RequestUri is { } url ? proxies?.RouteFor(url) : null;

        // Where the socket goes, and what its connection counts under: the host's (its tunnel's, through a proxy), or,
        // for requests the handler sends to a proxy, the proxy's own entry (those connections carry any host's requests).
        var tunnel = proxy is not null && scheme == Uri.UriSchemeHttps;
        var (key, host, port, perServer) = proxy is null
            ? (new HostKey(scheme, endPoint.Host, endPoint.Port), endPoint.Host, endPoint.Port, settings.ConnectionsPerServer)
            : tunnel
                ? (new HostKey(scheme, endPoint.Host, endPoint.Port, proxy.Name), proxy.Host, proxy.Port, settings.ConnectionsPerServer)
                : (new HostKey(Uri.UriSchemeHttp, proxy.Host, proxy.Port, proxy.Name), endPoint.Host, endPoint.Port, settings.ConnectionsPerProxy);

        // SockConnect is the request's own (sessions of different timeouts may share a transport); the transport's
        // setting is only for a request the session did not send (a middleware's own message).
        var sockConnect = requestContext is null ? settings.SockConnect : requestContext.Timeout.SockConnect;
        if (requestContext is not null)
        {
            requestContext.CreatedConnection = true;
        }

        var attempt = await ConnectAttempt.StartAsync(time, request, requestContext, sockConnect, telemetry, cancellationToken, closing).ConfigureAwait(false);
        var reserved = false;
        CountedNetworkStream? connection = null;
        try
        {
            await connector.ReserveConnectionAsync(key, perServer, attempt.Token).ConfigureAwait(false);
            reserved = true;
            var started = time.GetTimestamp();
            telemetry.Trace(TraceEventKind.ConnectionCreateStart, request.Method, request.RequestUri, endPoint.Host);
            IPAddress[] addresses;
            try
            {
                addresses = await dns.ResolveAsync(host, telemetry, attempt.Token).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new ClientConnectorException($"Cannot resolve host '{host}': {ex.Message}", ex, HttpRequestError.NameResolutionError);
            }

            if (addresses.Length == 0)
            {
                throw new ClientConnectorException($"Host '{host}' resolved to no address.", null, HttpRequestError.NameResolutionError);
            }

            attempt.BeginAddressAttempts();
            Socket socket;
            try
            {
                socket = await HappyEyeballs.ConnectAsync(
                    addresses,
                    port,
                    settings.HappyEyeballsDelay,
                    time,
                    (address, ex) => new ClientConnectorException($"Cannot connect to {key.Describe()} ({address}): {ex.Message}", ex),
                    attempt.Token).ConfigureAwait(false);
            }
            catch (ClientConnectorException ex)
            {
                telemetry.ConnectFailed(key, ex);
                throw;
            }

            // The handler establishes the connection on this stream (TLS) once it is returned; until it has, the
            // attempt's deadlines and cancellation still apply, and close the stream when they end it.
            connection = new CountedNetworkStream(socket, connector, key);
            connector.ConnectionOpened();
            attempt.Connected(connection);
            if (tunnel)
            {
                try
                {
                    await ProxyTunnel.EstablishAsync(connection, proxy!, endPoint.Host, endPoint.Port, settings.MaxResponseHeadersLength * 1024, attempt.Token).ConfigureAwait(false);
                }
                catch (ClientConnectorException ex)
                {
                    telemetry.ConnectFailed(key, ex);
                    throw;
                }
            }

            telemetry.Trace(TraceEventKind.ConnectionCreateEnd, request.Method, request.RequestUri, endPoint.Host, elapsed: time.GetElapsedTime(started));
            return connection;
        }
        catch (Exception ex) when (connection is not null)
        {
            // The tunnel failed, or a trace callback did, after the socket was connected: the stream closes, and gives
            // its room back (its attempt ends with it). A deadline that closed it is the reason, not the read it failed.
            await connection.DisposeAsync().ConfigureAwait(false);
            if (attempt.Expired is { } timeout && ex is not ClientTimeoutException)
            {
                throw timeout;
            }

            throw;
        }
        catch (OperationCanceledException) when (attempt.Expired is { } timeout)
        {
            // A deadline of the attempt passed (it was counted when it fired): the reason, not the cancellation it caused.
            throw timeout;
        }
        finally
        {
            if (connection is null)
            {
                if (reserved)
                {
                    // The connection the room was reserved for was not made: the room goes back.
                    connector.ConnectionClosed(key);
                }

                attempt.End();
            }
        }
    }
}
