using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>A connection's stream that tells the connector when it closes, so open connections can be counted.</summary>
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
        connector.ConnectionOpened(key);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connector.ConnectionClosed(_key);
        }

        base.Dispose(disposing);
    }
}
