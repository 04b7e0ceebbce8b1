using System.Net;
using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>
/// The transport stage: a <see cref="SocketsHttpHandler"/> configured from the connector's options, whose connect
/// callback resolves through the DNS cache, bounds each connect attempt, and counts connections for the connector
/// (or the handler of <see cref="ConnectorOptions.TransportFactory"/>, which replaces all of that); either one
/// behind the <see cref="HeaderGuard"/>, which every request passes last. The connector owns it, and every session on
/// the connector sends through it: a connection one session opened may carry another's request to the same host.
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
        var sockConnect = options.SockConnect;
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
            // A body not read to its end is closed with its response, as aiohttp closes it, never drained in the
            // background: a drain would keep the connection open after its slot went back, and the next request would
            // open another (Limit = 2 once held 20 connections open this way). With no drain allowed, disposing the
            // content disposes the connection at once, unless the rest of the body is already in its buffer.
            MaxResponseDrainSize = 0,
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, connector, options.ConnectionsPerServer, dns, time, sockConnect, TelemetryOf(context.InitialRequestMessage, telemetry), cancellationToken),
            // The transport's System.Net.Http metrics go to the connector's meter factory (the host's), as IHttpClientFactory's do.
            MeterFactory = telemetry.Metrics.MeterFactory,
            PlaintextStreamFilter = static (context, _) => CountedNetworkStream.MarkEstablished(context.InitialRequestMessage, context.PlaintextStream),
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

        return new HeaderGuard(handler);
    }

    /// <summary>The session that sent <paramref name="request"/> reports its connection; <paramref name="connector"/>'s telemetry otherwise.</summary>
    private static SessionTelemetry TelemetryOf(HttpRequestMessage request, SessionTelemetry connector)
        => RequestContext.Of(request)?.Session.Telemetry ?? connector;

    private static async ValueTask<Stream> ConnectAsync(
        SocketsHttpConnectionContext context,
        Connector connector,
        int perServer,
        DnsCache dns,
        TimeProvider time,
        TimeSpan? sockConnect,
        SessionTelemetry telemetry,
        CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var requestContext = RequestContext.Of(request);
        var endPoint = context.DnsEndPoint;
        var key = new HostKey(request.RequestUri?.Scheme ?? Uri.UriSchemeHttp, endPoint.Host, endPoint.Port);

        // The request's remaining Connect budget bounds this connect too, when it is tighter than SockConnect.
        var connectBudget = requestContext?.RemainingConnect;
        var (limit, kind) = connectBudget is { } budget && (sockConnect is null || budget < sockConnect)
            ? ((TimeSpan?)budget, TimeoutKind.Connect)
            : (sockConnect, TimeoutKind.SockConnect);

        // The handler lets a connect outlive the request that started it; here it does not, so that a cancelled or
        // timed-out request leaves no extra connection behind and open connections stay within the limits.
        using var owner = requestContext is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, requestContext.Token);
        cancellationToken = owner?.Token ?? cancellationToken;
        requestContext?.ConnectStarted();
        if (requestContext is not null)
        {
            requestContext.CreatedConnection = true;
        }

        await connector.ReserveConnectionAsync(key, perServer, cancellationToken).ConfigureAwait(false);
        var connected = false;
        var started = time.GetTimestamp();
        try
        {
            telemetry.Trace(TraceEventKind.ConnectionCreateStart, request.Method, request.RequestUri, endPoint.Host);
            IPAddress[] addresses;
            try
            {
                addresses = await dns.ResolveAsync(endPoint.Host, telemetry, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new ClientConnectorException($"Cannot resolve host '{endPoint.Host}': {ex.Message}", ex, HttpRequestError.NameResolutionError);
            }

            Exception? last = null;
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                using var attempt = limit is { } l ? new CancellationTokenSource(l, time) : null;
                using var linked = attempt is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attempt.Token);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), linked?.Token ?? cancellationToken).ConfigureAwait(false);
                    var stream = new CountedNetworkStream(socket, connector, key);
                    connected = true;
                    stream.EstablishingFor(request);
                    telemetry.Trace(TraceEventKind.ConnectionCreateEnd, request.Method, request.RequestUri, endPoint.Host, elapsed: time.GetElapsedTime(started));
                    return stream;
                }
                catch (OperationCanceledException ex) when (attempt?.IsCancellationRequested == true && !cancellationToken.IsCancellationRequested)
                {
                    CountedNetworkStream.Close(socket);
                    last = kind == TimeoutKind.Connect
                        ? new ConnectTimeoutException(requestContext!.Timeout.Connect!.Value, ex)
                        : new SocketConnectTimeoutException(limit!.Value, ex);
                }
                catch (SocketException ex)
                {
                    CountedNetworkStream.Close(socket);
                    last = new ClientConnectorException($"Cannot connect to {key} ({address}): {ex.Message}", ex);
                }
                catch
                {
                    CountedNetworkStream.Close(socket);
                    throw;
                }
            }

            last ??= new ClientConnectorException($"Host '{endPoint.Host}' resolved to no address.", null, HttpRequestError.NameResolutionError);
            if (last is ClientTimeoutException timeout)
            {
                telemetry.TimeoutFired(timeout.Kind, timeout.Timeout, request.Method, request.RequestUri);
            }
            else
            {
                telemetry.ConnectFailed(key, last);
            }

            throw last;
        }
        finally
        {
            if (!connected)
            {
                // The connection the room was reserved for was not made: the room goes back.
                connector.ConnectionClosed(key);
            }

            requestContext?.ConnectEnded();
        }
    }
}
