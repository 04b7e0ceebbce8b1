using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>
/// A connection's stream that tells the connector when it closes, so open connections can be counted, and tells the
/// <see cref="ConnectionCapture"/> of the writing flow which connection its request goes out on. It takes over the
/// room <see cref="Connector.ReserveConnectionAsync"/> reserved for it, and gives it back once its socket is closed.
/// </summary>
/// <remarks>
/// Until the handler has established the connection on it (after TLS), its <see cref="ConnectAttempt"/> may close it
/// (<see cref="Abort"/>): its reads then fail with the reason (a connect timeout), which the handler passes on to the
/// request, and the handler cannot establish it any more (<see cref="Establish"/>). Once established, nothing but the
/// handler closes it. The attempt is over when the handler has established the stream, or has let go of it (disposed
/// it), whichever comes first.
/// </remarks>
internal sealed class CountedNetworkStream : NetworkStream
{
    private const int Establishing = 0;
    private const int Established = 1;
    private const int Aborted = 2;

    private readonly Connector _connector;
    private readonly HostKey _key;
    private ConnectAttempt? _attempt;
    private ConnectionCapture? _lastWriter;
    private bool _multiplexed;
    private ClientTimeoutException? _failure;
    private int _closed;

    // Established once the handler has the plaintext stream (after TLS): from then on, writes carry requests, and the
    // attempt can no longer close it. Aborted when the attempt closed it first: then the handler cannot establish it.
    private int _state;

    public CountedNetworkStream(Socket socket, Connector connector, HostKey key)
        : base(socket, ownsSocket: true)
    {
        _connector = connector;
        _key = key;
    }

    /// <summary>Links of the connector's list of idle connections, least recently used first (guarded by the connector).</summary>
    public CountedNetworkStream? IdlePrev;

    public CountedNetworkStream? IdleNext;

    /// <summary>In the connector's idle list: back in the transport's pool, unused (guarded by the connector).</summary>
    public bool IsIdle;

    /// <summary>
    /// The connector's entry for the connection's host, once the connection was first listed idle: counted there while
    /// idle, with no lookup by key. Never swept while the connection is open (guarded by the connector).
    /// </summary>
    public HostState? Host;

    /// <summary>Chosen by the connector to close, to make room under its Limit for a connect to another host.</summary>
    public bool EndedForRoom;

    /// <summary>The requests that have written on the connection (guarded by the connector).</summary>
    public int Uses;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The host the connection is to.</summary>
    public HostKey Key => _key;

    /// <summary>The handler goes on to establish this connection (TLS) for <paramref name="attempt"/>.</summary>
    public void AttemptedBy(ConnectAttempt attempt) => Volatile.Write(ref _attempt, attempt);

    /// <summary>
    /// The handler has established the connection: from now on nothing closes it on its attempt's behalf, and the
    /// attempt ends. When the attempt closed it first (after the handshake, before this), returns why: the handler
    /// must not hand it to a request.
    /// </summary>
    /// <param name="multiplexed">True for an HTTP/2 connection, which carries several requests at once.</param>
    public IOException? Establish(bool multiplexed)
    {
        if (Interlocked.CompareExchange(ref _state, Established, Establishing) == Aborted)
        {
            return Volatile.Read(ref _failure) is { } reason
                ? Closed(reason)
                : new IOException("The connection was closed while it was being established: its request ended or the session closed.");
        }

        // The connection may serve requests long after the one that opened it: it keeps nothing of that request.
        _multiplexed = multiplexed;
        var attempt = Interlocked.Exchange(ref _attempt, null);
        attempt?.End();
        if (multiplexed || attempt is { RequestGone: true })
        {
            // Made for a request that ended meanwhile: the transport pools it unused, and another host's connect may
            // close it to make room. (One still wanted is about to carry its request.) An HTTP/2 connection is listed
            // from the start and stays listed: it carries many requests at once, so none of them binds to it or marks
            // it busy. While a request of its host is in flight (so not bound), the connector closes none of the
            // host's connections; with none in flight it has no stream, and may be closed for another host.
            _connector.ConnectionIdle(this);
        }

        return null;
    }

    /// <summary>
    /// Closes a connection that is still being established, because its attempt ended: its reads fail with
    /// <paramref name="reason"/> (when a timeout ended it), which the handler passes on to the request. A connection
    /// the handler has established already is left alone. The stream itself stays the handler's to dispose.
    /// </summary>
    public void Abort(ClientTimeoutException? reason)
    {
        // The reason first: whoever sees the connection aborted finds it.
        if (reason is not null && Volatile.Read(ref _state) == Establishing)
        {
            Volatile.Write(ref _failure, reason);
        }

        if (Interlocked.CompareExchange(ref _state, Aborted, Establishing) == Establishing)
        {
            Close(Socket);
            Counted();
        }
    }

    /// <summary>
    /// Ends an idle connection to make room for another host's under the connector's Limit: its end goes to the server
    /// now, and it counts as closed (the connection is; only the handle remains until the transport, finding it ended
    /// when it next looks at it, disposes it). Called under the connector's lock, when no request of its host can be
    /// handed it; the caller counts it.
    /// </summary>
    public void EndForRoom()
    {
        Shutdown(Socket);
        Interlocked.Exchange(ref _closed, 1);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => IsEstablished ? base.ReadAsync(buffer, cancellationToken) : ReadWhileEstablishingAsync(buffer, cancellationToken);

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
        if (!IsEstablished)
        {
            return WriteWhileEstablishingAsync(buffer, cancellationToken);
        }

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
        Counted();
        if (disposing)
        {
            // The handler let go of a connection it had not established (a failed handshake): its attempt is over.
            Interlocked.Exchange(ref _attempt, null)?.End();
        }
    }

    /// <summary>A read of the handshake: when the attempt closed the connection, it fails with the reason.</summary>
    private async ValueTask<int> ReadWhileEstablishingAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int read;
        try
        {
            read = await base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (_failure is { } failure && ex is IOException or ObjectDisposedException)
        {
            throw Closed(failure);
        }

        // A socket shut down under a pending read can end it with nothing instead of an error.
        return read == 0 && _failure is { } reason ? throw Closed(reason) : read;
    }

    private async ValueTask WriteWhileEstablishingAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            await base.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (_failure is { } failure && ex is IOException or ObjectDisposedException)
        {
            throw Closed(failure);
        }
    }

    private static IOException Closed(ClientTimeoutException reason)
        => new($"The connection was closed while it was being established: {reason.Message}", reason);

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

    private bool IsEstablished => Volatile.Read(ref _state) == Established;

    /// <summary>The socket is closed: its room goes back to the connector, once.</summary>
    private void Counted()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connector.ConnectionClosed(_key, this);
        }
    }

    private void Capture()
    {
        // An HTTP/2 connection is never busy for one request: it stays listed idle (see Establish).
        if (IsEstablished && ConnectionCapture.OnWrite(this) is { } writer && !_multiplexed && !ReferenceEquals(writer, _lastWriter))
        {
            // The first write of another request: the connection is busy (no longer one to close for room).
            _lastWriter = writer;
            _connector.ConnectionBusy(this, writer.Lease);
        }
    }
}
