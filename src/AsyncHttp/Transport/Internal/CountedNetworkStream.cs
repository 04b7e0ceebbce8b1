using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>
/// A connection's stream that tells the connector when it closes, so open connections can be counted. It takes over
/// the room <see cref="Connector.ReserveConnectionAsync"/> reserved for it, and gives it back once its socket is closed.
/// </summary>
internal sealed class CountedNetworkStream : NetworkStream
{
    private readonly Connector _connector;
    private readonly HostKey _key;
    private int _closed;

    public CountedNetworkStream(Socket socket, Connector connector, HostKey key)
        : base(socket, ownsSocket: true)
    {
        _connector = connector;
        _key = key;
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
}
