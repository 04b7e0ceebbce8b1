using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>
/// A minimal HTTP/1.1 server on raw sockets, for behaviour Kestrel will not show: closing a kept-alive connection the
/// moment the next request arrives on it, without answering; and recording each request head byte for byte, as it
/// came off the wire, which Kestrel would have parsed (or refused) first. A request for <c>/redirect</c> (with any query) gets a 302 to
/// <c>/landed</c>; every other request gets 200 with the body <c>ok</c>.
/// </summary>
public sealed class RawHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private readonly List<string> _heads = [];
    private int _accepted;
    private int _requests;

    public RawHttpServer()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Answer the first request of each connection, then close the connection when a second arrives.</summary>
    public bool CloseOnSecondRequest { get; init; } = true;

    public Uri BaseAddress => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    public int AcceptedConnections => Volatile.Read(ref _accepted);

    public int RequestsReceived => Volatile.Read(ref _requests);

    /// <summary>The head of every request received (request line and header lines, Latin-1), in arrival order.</summary>
    public IReadOnlyList<string> Heads
    {
        get
        {
            lock (_heads)
            {
                return [.. _heads];
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await Task.WhenAll(_connections.Append(_accepting)).WaitAsync(TestServer.Patience).ContinueWith(_ => { });
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[16384];
            var pending = new StringBuilder();
            try
            {
                for (var index = 0; index < 100; index++)
                {
                    // Read one request: headers, then a Content-Length body.
                    int headerEnd;
                    while ((headerEnd = pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) < 0)
                    {
                        var read = await socket.ReceiveAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
                    }

                    var head = pending.ToString(0, headerEnd);
                    var length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        .Select(l => int.Parse(l[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
                    while (pending.Length < headerEnd + 4 + length)
                    {
                        var read = await socket.ReceiveAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
                    }

                    pending.Remove(0, headerEnd + 4 + length);
                    lock (_heads)
                    {
                        _heads.Add(head);
                    }

                    Interlocked.Increment(ref _requests);
                    if (CloseOnSecondRequest && index == 1)
                    {
                        return; // a kept-alive connection closed by the server just as the client reused it
                    }

                    var response = head.StartsWith("HEAD ", StringComparison.Ordinal)
                        ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n"u8.ToArray()
                        : head.Split(' ', 3) is [_, var target, _] && target.Split('?')[0] == "/redirect"
                        ? "HTTP/1.1 302 Found\r\nLocation: /landed\r\nContent-Length: 0\r\n\r\n"u8.ToArray()
                        : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"u8.ToArray();
                    await socket.SendAsync(response, _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
            }
        }
    }
}
