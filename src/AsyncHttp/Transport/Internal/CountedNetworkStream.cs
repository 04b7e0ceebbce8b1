using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Internal;

/// <summary>
/// A connection's stream that tells the connector when it closes, so open connections can be counted, and tells the
/// <see cref="ConnectionCapture"/> of the writing flow which connection its request goes out on.
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
        connector.ConnectionOpened(key);
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

    /// <summary>Closes the connection under the handler, which then finds it closed and does not reuse it.</summary>
    public void Abort()
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        Dispose();
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
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connector.ConnectionClosed(_key);
        }

        base.Dispose(disposing);
    }

    private void Capture()
    {
        if (_established)
        {
            ConnectionCapture.OnWrite(this);
        }
    }
}
