namespace AsyncHttp.Internal;

/// <summary>
/// Learns which connection a request went out on, so that a response that must not leave its connection reusable can
/// close it. <see cref="SocketsHttpHandler"/> does not say which connection serves a request, but it writes the
/// request in the request's own flow: each connection's stream tells the capture of the flow that writes to it.
/// </summary>
/// <remarks>
/// Only writes after the connection is established count (TLS handshake writes happen in the flow that opened the
/// connection, which may hand it to another request). The capture is scoped to the async method that begins it.
/// </remarks>
internal sealed class ConnectionCapture
{
    private static readonly AsyncLocal<ConnectionCapture?> Current = new();

    private CountedNetworkStream? _connection;
    private bool _ended;

    /// <summary>The slot of the hop this capture is for: bound to a connection by the hop's first write.</summary>
    public Connector.SlotLease? Lease { get; private init; }

    /// <summary>Starts capturing the connection of the request the calling async method sends next, on <paramref name="lease"/>.</summary>
    public static ConnectionCapture Begin(Connector.SlotLease lease)
    {
        var capture = new ConnectionCapture { Lease = lease };
        Current.Value = capture;
        return capture;
    }

    /// <summary>A connection wrote data for the request of the current flow, if that flow captures; returns its capture.</summary>
    public static ConnectionCapture? OnWrite(CountedNetworkStream connection)
    {
        if (Current.Value is { _ended: false } capture)
        {
            capture._connection = connection;
            return capture;
        }

        return null;
    }

    /// <summary>
    /// Ends the capture once the response is in, and returns the connection the request went out on, if it is known.
    /// Whatever keeps the flow (a timer, a task started in it) keeps no connection alive through the capture.
    /// </summary>
    public CountedNetworkStream? End()
    {
        _ended = true;
        return Interlocked.Exchange(ref _connection, null);
    }
}
