using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// A connection's stream that tells the connector when it closes, so open connections can be counted, and tells the
/// <see cref="ConnectionCapture"/> of the writing flow which connection its request goes out on. It takes over the
/// room <see cref="Connector.ReserveConnectionAsync"/> reserved for it, and gives it back once its socket is closed.
/// </summary>
internal sealed class CountedNetworkStream : NetworkStream
{
    // The connection being established for each request that opened one, until the handler has its plaintext stream.
    private static readonly ConditionalWeakTable<HttpRequestMessage, CountedNetworkStream> Establishing = new();

    private readonly Connector _connector;
    private readonly HostKey _key;
    private int _closed;

    // Set once the handler has the plaintext stream (after TLS): from then on, writes carry requests.
    private volatile bool _established;

    public CountedNetworkStream(Socket socket, Connector connector, HostKey key)
        : base(socket, ownsSocket: true)
    {
        _connector = connector;
        _key = key;
    }

    /// <summary>The handler goes on to establish this connection (TLS) for <paramref name="request"/>.</summary>
    public void EstablishingFor(HttpRequestMessage request) => Establishing.AddOrUpdate(request, this);

    /// <summary>
    /// The handler's plaintext-stream filter, called once a connection is established: marks the connection opened
    /// for <paramref name="request"/> established, and returns <paramref name="plaintext"/> unchanged.
    /// </summary>
    public static ValueTask<Stream> MarkEstablished(HttpRequestMessage request, Stream plaintext)
    {
        if (Establishing.TryGetValue(request, out var connection))
        {
            Establishing.Remove(request);
            connection._established = true;
        }

        return ValueTask.FromResult(plaintext);
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        Capture();
        base.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Capture();
        base.Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Capture();
        return base.WriteAsync(buffer, offset, count, cancellationToken);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Capture();
        return base.WriteAsync(buffer, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Volatile.Read(ref _closed) == 0)
        {
            Shutdown(Socket);
        }

        // Counted as closed once the socket is: the count never says less than what is open.
        base.Dispose(disposing);
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connector.ConnectionClosed(_key);
        }
    }

    /// <summary>Closes a socket whose connection may have been made, its end sent to the server first (see <see cref="Shutdown"/>).</summary>
    public static void Close(Socket socket)
    {
        Shutdown(socket);
        socket.Dispose();
    }

    /// <summary>
    /// Sends the connection's end to the server now. Disposing a socket defers closing its handle while an operation
    /// still holds it (a receive being completed on another thread), and the server would see it open meanwhile, after
    /// its slot and its room went back.
    /// </summary>
    private static void Shutdown(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Not connected, or closed already by the peer or the runtime.
        }
    }

    private void Capture()
    {
        if (_established)
        {
            ConnectionCapture.OnWrite(this);
        }
    }
}
