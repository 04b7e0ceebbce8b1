using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>
/// A loopback server on raw sockets that misbehaves on purpose, one way per path (<c>/reset-headers</c>,
/// <c>/truncated-chunked</c>, ...), where Kestrel would not. It counts the sockets it holds open, so a test can
/// check that the client closed every connection.
/// </summary>
public sealed class FaultServer : IAsyncDisposable
{
    public const string ResetDuringHeaders = "reset-headers";
    public const string ResetDuringBody = "reset-body";
    public const string CloseAfterHeaders = "close-after-headers";
    public const string TruncatedChunked = "truncated-chunked";
    public const string ShortContentLength = "short-content-length";
    public const string OversizedHeaders = "oversized-headers";
    public const string EndlessHeaders = "endless-headers";
    public const string EndlessBody = "endless-body";
    public const string TrickledHeaders = "trickled-headers";
    public const string GarbageStatusLine = "garbage-status";
    public const string NeverAnswers = "never-answers";
    public const string LongLine = "long-line";
    public const string LongJsonString = "long-json-string";
    public const string HugeContentLength = "huge-content-length";
    public const string CloseBeforeResponse = "close-before-response";
    public const string MalformedChunked = "malformed-chunked";
    public const string ContentLengthAndChunked = "content-length-and-chunked";
    public const string RedirectToContentLengthAndChunked = "redirect-to-content-length-and-chunked";

    /// <summary>The length <see cref="HugeContentLength"/> declares (3 GiB), more than an array can hold; it sends 10 bytes of it.</summary>
    public const long HugeLength = 3L * 1024 * 1024 * 1024;

    /// <summary>The length of the line of <see cref="LongLine"/> and of the string of <see cref="LongJsonString"/>: 64 MiB.</summary>
    public const int LongValueBytes = 64 * 1024 * 1024;

    // Bounds on what the server sends, so that a client that failed to stop cannot make a test run forever.
    private const int MaxEndlessBytes = 256 * 1024 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private readonly object _sync = new();
    private readonly TaskCompletionSource _requestReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _allClosed;
    private int _open;
    private int _accepted;

    public FaultServer()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Url(string fault) => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/{fault}");

    public int AcceptedConnections => Volatile.Read(ref _accepted);

    public int OpenSockets
    {
        get
        {
            lock (_sync)
            {
                return _open;
            }
        }
    }

    /// <summary>Completes once a request head has been read.</summary>
    public Task WhenRequestReceived() => _requestReceived.Task.WaitAsync(TestServer.Patience);

    /// <summary>Completes once the server holds no open socket (the client closed or the server gave up on each).</summary>
    public Task WhenAllSocketsClosed()
    {
        lock (_sync)
        {
            if (_open == 0)
            {
                return Task.CompletedTask;
            }

            _allClosed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _allClosed.Task.WaitAsync(TestServer.Patience);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Task[] all;
        lock (_sync)
        {
            all = [.. _connections, _accepting];
        }

        await Task.WhenAll(all).WaitAsync(TestServer.Patience).ContinueWith(_ => { });
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
            lock (_sync)
            {
                _open++;
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            var head = await ReadRequestHeadAsync(socket);
            if (head is not null)
            {
                _requestReceived.TrySetResult();
                var path = head.Split(' ', 3) is [_, var target, ..] ? target.TrimStart('/') : string.Empty;
                await MisbehaveAsync(socket, path);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, which is what most faults end with.
        }
        finally
        {
            socket.Dispose();
            lock (_sync)
            {
                if (--_open == 0)
                {
                    _allClosed?.TrySetResult();
                    _allClosed = null;
                }
            }
        }
    }

    private async Task MisbehaveAsync(Socket socket, string fault)
    {
        var token = _stop.Token;
        switch (fault)
        {
            case ResetDuringHeaders:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Le");
                Reset(socket);
                return;
            case ResetDuringBody:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + new string('x', 1000));
                await WaitForClientAsync(socket, token); // keep the headers readable; reset once the client reads on
                Reset(socket);
                return;
            case CloseAfterHeaders:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
                socket.Shutdown(SocketShutdown.Both);
                return;
            case TruncatedChunked:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
                socket.Shutdown(SocketShutdown.Both);
                return;
            case ShortContentLength:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
                socket.Shutdown(SocketShutdown.Both);
                return;
            case OversizedHeaders:
                await SendAsync(socket, $"HTTP/1.1 200 OK\r\nX-Big: {new string('a', 200 * 1024)}\r\nContent-Length: 0\r\n\r\n");
                await DrainUntilClosedAsync(socket, token);
                return;
            case EndlessHeaders:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\n");
                await SendForeverAsync(socket, Encoding.ASCII.GetBytes("X-More: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"), token);
                return;
            case EndlessBody:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
                await SendForeverAsync(socket, new byte[16384], token);
                return;
            case TrickledHeaders:
                foreach (var b in Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n"))
                {
                    await socket.SendAsync(new[] { b }, token);
                    await Task.Yield();
                }

                await SendAsync(socket, "trickle");
                await DrainUntilClosedAsync(socket, token);
                return;
            case GarbageStatusLine:
                await SendAsync(socket, "SMTP READY LOL\r\n\r\n");
                await DrainUntilClosedAsync(socket, token);
                return;
            case NeverAnswers:
                await DrainUntilClosedAsync(socket, token);
                return;
            case LongLine:
                // Generated as it is sent, so the server holds 64 KiB, not the line.
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nfirst\n");
                await SendRepeatedAsync(socket, (byte)'a', LongValueBytes, token);
                await SendAsync(socket, "\nlast\n");
                socket.Shutdown(SocketShutdown.Both);
                return;
            case ContentLengthAndChunked:
                // Two framings that disagree (3 bytes, or the chunked "hello"): the way to smuggle a response. The
                // connection stays open, so a test sees whether the client closes it.
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
                await DrainUntilClosedAsync(socket, token);
                return;
            case RedirectToContentLengthAndChunked:
                // One request per connection here: the next hop comes on a new one.
                await SendAsync(socket, $"HTTP/1.1 302 Found\r\nLocation: /{ContentLengthAndChunked}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                socket.Shutdown(SocketShutdown.Both);
                return;
            case CloseBeforeResponse:
                socket.Shutdown(SocketShutdown.Both);
                return;
            case MalformedChunked:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
                await DrainUntilClosedAsync(socket, token);
                return;
            case HugeContentLength:
                await SendAsync(socket, $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {HugeLength}\r\n\r\nonly ten b");
                await DrainUntilClosedAsync(socket, token);
                return;
            case LongJsonString:
                await SendAsync(socket, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"name\":\"");
                await SendRepeatedAsync(socket, (byte)'a', LongValueBytes, token);
                await SendAsync(socket, "\",\"count\":1}");
                socket.Shutdown(SocketShutdown.Both);
                return;
            default:
                await SendAsync(socket, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                await DrainUntilClosedAsync(socket, token);
                return;
        }
    }

    private static async Task<string?> ReadRequestHeadAsync(Socket socket)
    {
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (received.Length < 64 * 1024)
        {
            var read = await socket.ReceiveAsync(buffer);
            if (read == 0)
            {
                return null;
            }

            received.Append(Encoding.Latin1.GetString(buffer, 0, read));
            var text = received.ToString();
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                return text;
            }
        }

        return null;
    }

    private static Task<int> SendAsync(Socket socket, string text) => socket.SendAsync(Encoding.Latin1.GetBytes(text));

    private static async Task SendForeverAsync(Socket socket, byte[] chunk, CancellationToken token)
    {
        for (var sent = 0; sent < MaxEndlessBytes; sent += chunk.Length)
        {
            await socket.SendAsync(chunk, token);
        }
    }

    private static async Task SendRepeatedAsync(Socket socket, byte value, int count, CancellationToken token)
    {
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, value);
        for (var sent = 0; sent < count; sent += chunk.Length)
        {
            await socket.SendAsync(chunk.AsMemory(0, Math.Min(chunk.Length, count - sent)), token);
        }
    }

    private static async Task DrainUntilClosedAsync(Socket socket, CancellationToken token)
    {
        var buffer = new byte[4096];
        for (var i = 0; i < 100_000 && await socket.ReceiveAsync(buffer, token) > 0; i++)
        {
        }
    }

    private static async Task WaitForClientAsync(Socket socket, CancellationToken token)
    {
        // A zero-byte receive completes when the client sends or closes; the client sends nothing more, so the
        // server resets it after a short, bounded pause that lets the client read the headers first.
        using var pause = CancellationTokenSource.CreateLinkedTokenSource(token);
        pause.CancelAfter(TimeSpan.FromMilliseconds(200));
        try
        {
            await socket.ReceiveAsync(Memory<byte>.Empty, pause.Token);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
        }
    }

    private static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }
}
