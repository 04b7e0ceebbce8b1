using System.Net;
using System.Net.Sockets;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>Loopback endpoints that misbehave at the TCP level.</summary>
public static class LoopbackSockets
{
    /// <summary>A port on 127.0.0.1 (or <paramref name="address"/>) with nothing listening: connects are refused.</summary>
    public static int ClosedPort(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>
    /// A listener that never accepts, with its accept queue filled, so that a new connect is never answered and
    /// hangs until the client gives up (Linux drops the SYN when the accept queue is full).
    /// </summary>
    /// <param name="address">The address to listen on: 127.0.0.1 unless given (another loopback address, 127.0.0.2).</param>
    /// <param name="port">The port; 0 for a free one.</param>
    public static async Task<FullBacklog> FullBacklogAsync(IPAddress? address = null, int port = 0)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address ?? IPAddress.Loopback, port));
        listener.Listen(0);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;

        // Linux queues backlog + 1 completed connections; these fill the queue.
        List<Socket> fillers = [];
        for (var i = 0; i < 1; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await filler.ConnectAsync(endPoint).WaitAsync(TestServer.Patience);
            fillers.Add(filler);
        }

        return new FullBacklog(listener, fillers, endPoint.Port);
    }

    public sealed class FullBacklog(Socket listener, List<Socket> fillers, int port) : IDisposable
    {
        public int Port { get; } = port;

        public void Dispose()
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }

            listener.Dispose();
        }
    }
}
