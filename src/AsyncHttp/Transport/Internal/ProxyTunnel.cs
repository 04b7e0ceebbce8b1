using System.Buffers;
using System.Globalization;
using System.Text;

namespace AsyncHttp.Internal;

/// <summary>
/// Opens a <c>CONNECT</c> tunnel (RFC 9110 §9.3.6) through a forward proxy on a connection the connect callback made
/// to it, so that the handler establishes TLS to the origin over it as over a direct connection. Only what the
/// handshake needs: one request, and the proxy's status line and headers, read up to the empty line and no further.
/// </summary>
internal static class ProxyTunnel
{
    private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();

    /// <summary>Asks <paramref name="proxy"/> for a tunnel to <paramref name="host"/>:<paramref name="port"/> and reads its answer.</summary>
    /// <param name="connection">The connection to the proxy.</param>
    /// <param name="proxy">The proxy: its name for messages, its credentials.</param>
    /// <param name="host">The origin's host (an IPv6 address with or without brackets).</param>
    /// <param name="port">The origin's port.</param>
    /// <param name="maxHeaderBytes">The most bytes of status line and headers accepted from the proxy.</param>
    /// <param name="cancellationToken">The connection attempt's.</param>
    /// <exception cref="ClientConnectorException">The proxy refused the tunnel, or did not answer as a proxy.</exception>
    public static async ValueTask EstablishAsync(Stream connection, ProxyRoute proxy, string host, int port, int maxHeaderBytes, CancellationToken cancellationToken)
    {
        var authority = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[')
            ? $"[{host}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";
        var request = new StringBuilder()
            .Append("CONNECT ").Append(authority).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(authority).Append("\r\n");
        if (proxy.Authorization is { } authorization)
        {
            request.Append("Proxy-Authorization: ").Append(authorization).Append("\r\n");
        }

        await connection.WriteAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()), cancellationToken).ConfigureAwait(false);
        await connection.FlushAsync(cancellationToken).ConfigureAwait(false);

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(maxHeaderBytes, 16 * 1024));
        try
        {
            var head = await ReadHeadAsync(connection, buffer, maxHeaderBytes, proxy, cancellationToken).ConfigureAwait(false);
            var status = StatusOf(head, proxy);
            if (status is < 200 or > 299)
            {
                var line = head[..head.IndexOf('\r', StringComparison.Ordinal)];
                // 407 is the proxy's "authenticate"; some proxies (tinyproxy) answer wrong credentials with 401.
                var hint = status is 401 or 407
                    ? proxy.Authorization is null ? " The proxy asks for credentials: give them as the user info of Proxy." : " The proxy refused the credentials of Proxy."
                    : string.Empty;
                throw new ClientConnectorException(
                    $"Proxy {proxy.Name} refused the tunnel to {authority}: {line}.{hint}", null, HttpRequestError.ProxyTunnelError);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads the proxy's answer up to its empty line, one read at a time, never past it: a proxy says nothing more
    /// before the client starts TLS, and whatever it sent after the head would belong to the tunnel.
    /// </summary>
    private static async ValueTask<string> ReadHeadAsync(Stream connection, byte[] buffer, int maxHeaderBytes, ProxyRoute proxy, CancellationToken cancellationToken)
    {
        var head = new MemoryStream();
        var matched = 0;
        while (true)
        {
            // One byte at a time while the end may be near, so that nothing past the head is consumed.
            var wanted = Math.Min(buffer.Length, HeaderEnd.Length - matched);
            var read = await connection.ReadAsync(buffer.AsMemory(0, wanted), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new ClientConnectorException($"Proxy {proxy.Name} closed the connection before it answered the CONNECT.", null, HttpRequestError.ProxyTunnelError);
            }

            for (var i = 0; i < read; i++)
            {
                matched = buffer[i] == HeaderEnd[matched] ? matched + 1 : buffer[i] == HeaderEnd[0] ? 1 : 0;
            }

            head.Write(buffer, 0, read);
            if (matched == HeaderEnd.Length)
            {
                return Encoding.Latin1.GetString(head.GetBuffer(), 0, (int)head.Length);
            }

            if (head.Length > maxHeaderBytes)
            {
                throw new ClientConnectorException($"Proxy {proxy.Name} answered the CONNECT with more than {maxHeaderBytes} bytes of headers.", null, HttpRequestError.ProxyTunnelError);
            }
        }
    }

    /// <summary>The status code of <c>HTTP/1.x SSS reason</c>.</summary>
    private static int StatusOf(string head, ProxyRoute proxy)
    {
        var lineEnd = head.IndexOf('\r', StringComparison.Ordinal);
        var line = head.AsSpan(0, lineEnd);
        if (line.StartsWith("HTTP/1.", StringComparison.Ordinal) && line.Length >= 12 && line[8] == ' '
            && int.TryParse(line.Slice(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            return status;
        }

        throw new ClientConnectorException($"Proxy {proxy.Name} did not answer the CONNECT with an HTTP status line.", null, HttpRequestError.ProxyTunnelError);
    }
}
