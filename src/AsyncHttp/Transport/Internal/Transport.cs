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
    /// <param name="connector">The connector that owns the transport and counts its connections.</param>
    /// <param name="time">The connector's clock.</param>
    /// <param name="telemetry">
    /// Where a connection reports when no session sent the request that opened it; one a session sent reports to that
    /// session (its traces, its log).
    /// </param>
    public static HttpMessageHandler Create(TransportSettings options, Connector connector, TimeProvider time, SessionTelemetry telemetry)
    {
        if (CustomTransport.Create(options, connector.Name, time) is { } custom)
        {
            return new HeaderGuard(custom);
        }

        var dns = new DnsCache(options.DnsCacheTtl, time);

        // Cancelled when the transport is disposed: a connection still being established then closes (the handler
        // would let it run on for its pending-connection timeout, 5 s by default, after the session has closed).
        var closing = new CancellationTokenSource();
        var handler = new SocketsHttpHandler
        {
            // Admission bounds requests in flight; this bounds the connections behind them (see ConnectionsPerServerFor).
            // A reload that changes the limits builds a new transport.
            MaxConnectionsPerServer = options.ConnectionsPerServer,
            PooledConnectionIdleTimeout = options.ForceClose ? TimeSpan.Zero : options.KeepAliveTimeout,
            PooledConnectionLifetime = options.ForceClose ? TimeSpan.Zero : System.Threading.Timeout.InfiniteTimeSpan,
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            // Decoding happens above admission (DecodingStream), so the decoded size can be capped.
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseHeadersLength = options.MaxResponseHeadersLength,
            // A request with Expect: 100-continue sends its body after this without an answer (ExpectContinue).
            Expect100ContinueTimeout = options.ExpectContinueTimeout,
            // A body not read to its end is closed with its response, as aiohttp closes it, never drained in the
            // background: a drain would keep the connection open after its slot went back, and the next request would
            // open another (Limit = 2 once held 20 connections open this way). With no drain allowed, disposing the
            // content disposes the connection at once, unless the rest of the body is already in its buffer.
            MaxResponseDrainSize = 0,
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, connector, options, dns, time, TelemetryOf(context.InitialRequestMessage, telemetry), closing.Token, cancellationToken),
            // The transport's System.Net.Http metrics go to the connector's meter factory (the host's), as IHttpClientFactory's do.
            MeterFactory = telemetry.Metrics.MeterFactory,
            PlaintextStreamFilter = static (context, _) => ConnectAttempt.MarkEstablished(context.InitialRequestMessage, context.PlaintextStream),
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

        return new HeaderGuard(handler, onDisposed: closing.Cancel);
    }

    /// <summary>The session that sent <paramref name="request"/> reports its connection; <paramref name="connector"/>'s telemetry otherwise.</summary>
    private static SessionTelemetry TelemetryOf(HttpRequestMessage request, SessionTelemetry connector)
        => RequestContext.Of(request)?.Session.Telemetry ?? connector;

    private static async ValueTask<Stream> ConnectAsync(
        SocketsHttpConnectionContext context,
        Connector connector,
        TransportSettings settings,
        DnsCache dns,
        TimeProvider time,
        SessionTelemetry telemetry,
        CancellationToken closing,
        CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var requestContext = RequestContext.Of(request);
        var endPoint = context.DnsEndPoint;
        var key = new HostKey(request.RequestUri?.Scheme ?? Uri.UriSchemeHttp, endPoint.Host, endPoint.Port);

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
            await connector.ReserveConnectionAsync(key, settings.ConnectionsPerServer, attempt.Token).ConfigureAwait(false);
            reserved = true;
            var started = time.GetTimestamp();
            telemetry.Trace(TraceEventKind.ConnectionCreateStart, request.Method, request.RequestUri, endPoint.Host);
            IPAddress[] addresses;
            try
            {
                addresses = await dns.ResolveAsync(endPoint.Host, telemetry, attempt.Token).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new ClientConnectorException($"Cannot resolve host '{endPoint.Host}': {ex.Message}", ex, HttpRequestError.NameResolutionError);
            }

            attempt.BeginAddressAttempts();
            Exception? last = null;
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), attempt.Token).ConfigureAwait(false);
                }
                catch (SocketException ex)
                {
                    CountedNetworkStream.Close(socket);
                    last = new ClientConnectorException($"Cannot connect to {key} ({address}): {ex.Message}", ex);
                    continue;
                }
                catch
                {
                    CountedNetworkStream.Close(socket);
                    throw;
                }

                // The handler establishes the connection on this stream (TLS) once it is returned; until it has, the
                // attempt's deadlines and cancellation still apply, and close the stream when they end it.
                connection = new CountedNetworkStream(socket, connector, key);
                attempt.Connected(connection);
                telemetry.Trace(TraceEventKind.ConnectionCreateEnd, request.Method, request.RequestUri, endPoint.Host, elapsed: time.GetElapsedTime(started));
                return connection;
            }

            last ??= new ClientConnectorException($"Host '{endPoint.Host}' resolved to no address.", null, HttpRequestError.NameResolutionError);
            telemetry.ConnectFailed(key, last);
            throw last;
        }
        catch (OperationCanceledException) when (attempt.Expired is { } timeout)
        {
            // A deadline of the attempt passed (it was counted when it fired): the reason, not the cancellation it caused.
            throw timeout;
        }
        catch when (connection is not null)
        {
            // A trace callback failed after the socket was connected: the stream closes, and gives its room back.
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
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
