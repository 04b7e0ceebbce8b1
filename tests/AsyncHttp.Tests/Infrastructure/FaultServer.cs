using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>
/// A loopback HTTP/1.1 server on raw sockets, one accept loop, for what Kestrel will not do. Its fault paths
/// (<c>/reset-headers</c>, <c>/truncated-chunked</c>, ...) misbehave once and end the connection; its plain paths
/// (<c>/bytes</c>, <c>/redirect</c>, <c>/ok</c>, <c>/stale</c>) keep the connection alive for the next request, and let
/// a test send a <c>Location</c> or a length that Kestrel would refuse.
/// </summary>
/// <remarks>
/// It counts what a client holds open: <see cref="OpenSockets"/>, and at every accept the connections still open,
/// counting only those that have not reached their end (<see cref="MaxOpenAtAccept"/>). A client closes a connection
/// before it opens the next one, but the server learns of a close only when it reads: so at each accept it asks each
/// other socket whether its end (FIN or reset) has arrived, instead of trusting its own bookkeeping.
/// </remarks>
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

    /// <summary><c>/bytes?size=N</c>: a body of N bytes with its Content-Length; the connection stays open.</summary>
    public const string Bytes = "bytes";

    /// <summary>
    /// <c>/stalled-body?size=N</c>: declares N bytes, sends 16 KiB of them, then sends nothing more until the client
    /// closes: a client that waits for the rest (a drain) holds the connection open.
    /// </summary>
    public const string StalledBody = "stalled-body";

    /// <summary>
    /// <c>/redirect?location=L&amp;status=S</c>: a redirect to L sent exactly as given (even unparsable); to <c>/ok</c>
    /// when no location is given.
    /// </summary>
    public const string Redirect = "redirect";

    /// <summary><c>/ok</c>: a 2-byte body, <c>ok</c>.</summary>
    public const string Ok = "ok";

    /// <summary>
    /// <c>/stale</c>: answers the first request of a connection, and closes the connection without an answer when a
    /// second one arrives on it, as a server does with a kept-alive connection it has just dropped.
    /// </summary>
    public const string StaleOnSecondRequest = "stale";

    /// <summary>
    /// <c>/slow-upload</c>: reads the request body in steps of <see cref="UploadStep"/> bytes, reporting each step to
    /// <see cref="UploadRead"/> (where a test moves its clock: the server reads the upload steadily, as slowly as the
    /// test says), then answers <c>received N</c>. The connection stays open.
    /// </summary>
    public const string SlowUpload = "slow-upload";

    /// <summary>
    /// <c>/stalled-upload?after=N</c>: reads N bytes of the request body, then stops reading (<see cref="WhenUploadStalled"/>)
    /// until <see cref="ResumeUploads"/>, after which it reads until the client closes. It never answers.
    /// </summary>
    public const string StalledUpload = "stalled-upload";

    /// <summary>
    /// <c>/early-413</c>: answers <c>413 Content Too Large</c> with <c>Connection: close</c> as soon as the request head is
    /// in, before any of the body. Without <c>Expect: 100-continue</c> it then closes the connection at once, the body
    /// unread (so the client's upload fails); with it, the client is expected to send no body, and the server reads
    /// until the client closes, counting what body bytes came anyway (<see cref="BodyBytesAfterEarlyAnswer"/>).
    /// </summary>
    public const string EarlyAnswer413 = "early-413";

    /// <summary>The step in which <see cref="SlowUpload"/> reads and reports: 1 MiB.</summary>
    public const int UploadStep = 1024 * 1024;

    // Bounds on what the server sends and reads, so that a client that failed to stop cannot make a test run forever.
    private const int MaxEndlessBytes = 256 * 1024 * 1024;
    private const int MaxRequestsPerConnection = 10_000;
    private const int SolTcp = 6;
    private const int TcpInfo = 11;
    private const byte TcpEstablished = 1;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    // The same server under a second loopback address: another host to the client, sockets counted together here.
    private readonly TcpListener _second = new(IPAddress.Parse("127.0.0.2"), 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly List<Socket> _sockets = [];
    private readonly List<string> _heads = [];
    private readonly Task _accepting;
    private readonly Task _acceptingSecond;
    private readonly object _sync = new();
    private readonly TaskCompletionSource _requestReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(int Count, TaskCompletionSource Signal)> _tlsWaiters = [];
    private readonly TaskCompletionSource _uploadStalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _resumeUploads = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _allClosed;
    private int _accepted;
    private int _requests;
    private int _maxOpenAtAccept;
    private int _tlsHandshakes;
    private long _bodyBytesAfterEarlyAnswer;

    public FaultServer()
    {
        // A fixed, small receive buffer (inherited by accepted sockets, and no autotuning up to 32 MiB): what a client
        // has sent but the server has not read yet stays small, so an upload's pace is the pace the server reads at.
        _listener.Server.ReceiveBufferSize = 64 * 1024;
        _listener.Start();
        _second.Server.ReceiveBufferSize = 64 * 1024;
        _second.Start();
        _accepting = AcceptAsync(_listener);
        _acceptingSecond = AcceptAsync(_second);
    }

    public Uri BaseAddress => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    public Uri Url(string pathAndQuery) => new(BaseAddress, pathAndQuery);

    /// <summary>A URL of the same server on 127.0.0.2: another host for the client (its own host key and pool).</summary>
    public Uri SecondHostUrl(string pathAndQuery) => new(new Uri($"http://127.0.0.2:{((IPEndPoint)_second.LocalEndpoint).Port}/"), pathAndQuery);

    public int AcceptedConnections => Volatile.Read(ref _accepted);

    public int RequestsReceived => Volatile.Read(ref _requests);

    /// <summary>
    /// Connections that began with a TLS handshake (an https client): the server reads the ClientHello and never
    /// answers it, a handshake that stalls, until the client closes.
    /// </summary>
    public int TlsHandshakesStarted => Volatile.Read(ref _tlsHandshakes);

    /// <summary>Called by <see cref="SlowUpload"/> with the body bytes read so far, after each <see cref="UploadStep"/>.</summary>
    public Action<long>? UploadRead { get; set; }

    /// <summary>Body bytes that <see cref="EarlyAnswer413"/> received after its answer (with <c>Expect: 100-continue</c>, none should come).</summary>
    public long BodyBytesAfterEarlyAnswer => Interlocked.Read(ref _bodyBytesAfterEarlyAnswer);

    /// <summary>An https URL of this server: its TLS handshake stalls (<see cref="TlsHandshakesStarted"/>).</summary>
    public Uri TlsUrl(string pathAndQuery = "") => new(new Uri($"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/"), pathAndQuery);

    /// <summary>Every request head as it came off the wire, in arrival order: what Kestrel would have parsed (or refused) first.</summary>
    public IReadOnlyList<string> Heads
    {
        get
        {
            lock (_sync)
            {
                return [.. _heads];
            }
        }
    }

    /// <summary>The most connections open at once, counted at each accept (the new one and those not yet ended).</summary>
    public int MaxOpenAtAccept => Volatile.Read(ref _maxOpenAtAccept);

    public int OpenSockets
    {
        get
        {
            lock (_sync)
            {
                return _sockets.Count;
            }
        }
    }

    /// <summary>Completes once a request head has been read.</summary>
    public Task WhenRequestReceived() => _requestReceived.Task.WaitAsync(TestServer.Patience);

    /// <summary>Completes once a client's TLS ClientHello has arrived (and gone unanswered).</summary>
    public Task WhenTlsHandshakeStarted() => WhenTlsHandshakesStarted(1);

    /// <summary>Completes once <paramref name="count"/> TLS handshakes have begun, in all.</summary>
    public Task WhenTlsHandshakesStarted(int count)
    {
        lock (_sync)
        {
            if (_tlsHandshakes >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _tlsWaiters.Add((count, signal));
            return signal.Task.WaitAsync(TestServer.Patience);
        }
    }

    /// <summary>Completes once <see cref="StalledUpload"/> has stopped reading an upload.</summary>
    public Task WhenUploadStalled() => _uploadStalled.Task.WaitAsync(TestServer.Patience);

    /// <summary>Lets <see cref="StalledUpload"/> read again, so that it sees the client's end of the connection.</summary>
    public void ResumeUploads() => _resumeUploads.TrySetResult();

    /// <summary>Completes once the server holds no open socket (the client closed or the server gave up on each).</summary>
    public Task WhenAllSocketsClosed()
    {
        lock (_sync)
        {
            if (_sockets.Count == 0)
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
        _second.Stop();
        Task[] all;
        lock (_sync)
        {
            all = [.. _connections, _accepting, _acceptingSecond];
        }

        await Task.WhenAll(all).WaitAsync(TestServer.Patience).ContinueWith(_ => { });
        _stop.Dispose();
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);

            // Headers and body go out in separate writes: without this, Nagle's algorithm holds the second until the
            // client's delayed ACK (40 ms), and a keep-alive client waits for nothing.
            socket.NoDelay = true;
            lock (_sync)
            {
                // A connection the client gave up while connecting arrives here already ended: it does not count.
                var open = HasEnded(socket) ? 0 : 1;
                foreach (var other in _sockets)
                {
                    if (!HasEnded(other))
                    {
                        open++;
                    }
                }

                _maxOpenAtAccept = Math.Max(_maxOpenAtAccept, open);
                _sockets.Add(socket);
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    /// <summary>
    /// True when the peer's FIN or reset has arrived, even behind data the server has not read yet (a request the
    /// client sent, then gave up on): the TCP state says so (Linux's TCP_INFO); elsewhere, readable with nothing to read.
    /// </summary>
    private static bool HasEnded(Socket socket)
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                // struct tcp_info starts with tcpi_state; ESTABLISHED is 1, anything else here means the peer ended it.
                Span<byte> info = stackalloc byte[8];
                socket.GetRawSocketOption(SolTcp, TcpInfo, info);
                return info[0] != TcpEstablished;
            }

            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            if (await StartsWithTlsAsync(socket, _stop.Token))
            {
                lock (_sync)
                {
                    _tlsHandshakes++;
                    _tlsWaiters.RemoveAll(w => w.Count <= _tlsHandshakes && w.Signal.TrySetResult());
                }

                await DrainUntilClosedAsync(socket, _stop.Token);
                return;
            }

            var reader = new RequestReader(socket);
            for (var index = 0; index < MaxRequestsPerConnection; index++)
            {
                var request = await reader.ReadHeadAsync(_stop.Token);
                if (request is null)
                {
                    return;
                }

                Interlocked.Increment(ref _requests);
                lock (_sync)
                {
                    _heads.Add(request.Head);
                }

                _requestReceived.TrySetResult();
                if (!HandlesItsBody(request.Path))
                {
                    if (request.ExpectsContinue && request.ContentLength > 0)
                    {
                        // As a server that takes the body does: the client waits for this before it sends it.
                        await SendAsync(socket, "HTTP/1.1 100 Continue\r\n\r\n");
                    }

                    if (await reader.ReadBodyAsync(request.ContentLength, UploadStep, null, _stop.Token) < request.ContentLength)
                    {
                        return;
                    }
                }

                if (!await AnswerAsync(socket, reader, request, index))
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The client went away, which is what most faults end with.
        }
        finally
        {
            socket.Dispose();
            lock (_sync)
            {
                _sockets.Remove(socket);
                if (_sockets.Count == 0)
                {
                    _allClosed?.TrySetResult();
                    _allClosed = null;
                }
            }
        }
    }

    /// <summary>True when the connection opens with a TLS handshake record (content type 22), as an https client's does.</summary>
    private static async Task<bool> StartsWithTlsAsync(Socket socket, CancellationToken token)
    {
        var first = new byte[1];
        return await socket.ReceiveAsync(first, SocketFlags.Peek, token) == 1 && first[0] == 0x16;
    }

    /// <returns>True when the connection stays open for another request.</returns>
    private async Task<bool> AnswerAsync(Socket socket, RequestReader reader, Request request, int index)
    {
        var token = _stop.Token;
        switch (request.Path)
        {
            case SlowUpload:
                var received = await reader.ReadBodyAsync(request.ContentLength, UploadStep, UploadRead, token);
                var text = $"received {received}";
                await SendAsync(socket, request.Answer($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {text.Length}\r\n\r\n", text));
                return received == request.ContentLength;
            case StalledUpload:
                await reader.ReadBodyAsync(long.Parse(request.Query("after") ?? "0", CultureInfo.InvariantCulture), UploadStep, null, token);
                _uploadStalled.TrySetResult();
                await _resumeUploads.Task.WaitAsync(token);
                await DrainUntilClosedAsync(socket, token);
                return false;
            case EarlyAnswer413:
                await SendAsync(socket, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
                if (!request.ExpectsContinue)
                {
                    // As a server that refuses a body does: it closes with the body unread, which resets the connection.
                    Reset(socket);
                    return false;
                }

                Interlocked.Add(ref _bodyBytesAfterEarlyAnswer, await reader.ReadBodyAsync(long.MaxValue, UploadStep, null, token));
                return false;

            case Ok:
                await SendAsync(socket, request.Answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n", "ok"));
                return true;
            case Bytes:
                var size = int.Parse(request.Query("size") ?? "0", CultureInfo.InvariantCulture);
                await SendAsync(socket, $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n");
                if (!request.IsHead)
                {
                    var chunk = new byte[Math.Min(size, 16384)];
                    Array.Fill(chunk, (byte)'x');
                    for (var sent = 0; sent < size; sent += chunk.Length)
                    {
                        await socket.SendAsync(chunk.AsMemory(0, Math.Min(chunk.Length, size - sent)), token);
                    }
                }

                return true;
            case StalledBody:
                await SendAsync(socket, $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {request.Query("size")}\r\n\r\n");
                await socket.SendAsync(new byte[16384], token);
                await DrainUntilClosedAsync(socket, token);
                return false;
            case Redirect:
                var status = request.Query("status") ?? "302";
                await SendAsync(socket, $"HTTP/1.1 {status} Redirect\r\nLocation: {request.Query("location") ?? "/" + Ok}\r\nContent-Length: 0\r\n\r\n");
                return true;
            case StaleOnSecondRequest when index == 1:
                return false; // a kept-alive connection closed by the server just as the client reused it
            case StaleOnSecondRequest:
                await SendAsync(socket, request.Answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n", "ok"));
                return true;
            default:
                await MisbehaveAsync(socket, request.Path, token);
                return false;
        }
    }

    private static bool HandlesItsBody(string path) => path is SlowUpload or StalledUpload or EarlyAnswer413;

    private static async Task MisbehaveAsync(Socket socket, string fault, CancellationToken token)
    {
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

    /// <summary>A request head as the server read it: the method, the target and the body's declared length.</summary>
    private sealed record Request(string Method, string Path, string QueryString, string Head, long ContentLength)
    {
        public bool IsHead => Method == "HEAD";

        public bool ExpectsContinue => Head.Contains("\r\nExpect: 100-continue", StringComparison.OrdinalIgnoreCase);

        public string? Query(string name)
        {
            foreach (var pair in QueryString.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && pair[..equals] == name)
                {
                    return Uri.UnescapeDataString(pair[(equals + 1)..]);
                }
            }

            return null;
        }

        /// <summary>The response head, and its body unless the request is a HEAD.</summary>
        public string Answer(string head, string body) => IsHead ? head : head + body;
    }

    /// <summary>
    /// Reads requests off one connection: a head, then its body (read by the path that answers it, or skipped), keeping
    /// what arrives beyond for the next.
    /// </summary>
    private sealed class RequestReader(Socket socket)
    {
        private const int MaxHead = 64 * 1024;
        private readonly byte[] _buffer = new byte[16384];
        private readonly StringBuilder _pending = new();

        public async Task<Request?> ReadHeadAsync(CancellationToken token)
        {
            int headEnd;
            while ((headEnd = _pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) < 0)
            {
                if (_pending.Length > MaxHead || !await FillAsync(token))
                {
                    return null;
                }
            }

            var head = _pending.ToString(0, headEnd);
            _pending.Remove(0, headEnd + 4);
            long length = 0;
            foreach (var line in head.Split("\r\n"))
            {
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    length = long.Parse(line[15..].Trim(), CultureInfo.InvariantCulture);
                }
            }

            var parts = head.Split(' ', 3);
            var target = parts.Length > 1 ? parts[1].TrimStart('/') : string.Empty;
            var question = target.IndexOf('?', StringComparison.Ordinal);
            return question < 0
                ? new Request(parts[0], target, string.Empty, head, length)
                : new Request(parts[0], target[..question], target[(question + 1)..], head, length);
        }

        /// <summary>
        /// Reads up to <paramref name="count"/> body bytes (those that came with the head first) and keeps none of them,
        /// telling <paramref name="progress"/> the total after each <paramref name="step"/> bytes.
        /// </summary>
        /// <returns>The bytes read: fewer than <paramref name="count"/> when the client closed first.</returns>
        public async Task<long> ReadBodyAsync(long count, int step, Action<long>? progress, CancellationToken token)
        {
            long read = Math.Min(_pending.Length, count);
            _pending.Remove(0, (int)read);
            var reported = read / step;
            while (read < count)
            {
                var n = await socket.ReceiveAsync(_buffer.AsMemory(0, (int)Math.Min(_buffer.Length, count - read)), token);
                if (n == 0)
                {
                    break;
                }

                read += n;
                while (progress is not null && read / step > reported)
                {
                    reported++;
                    progress(read);
                }
            }

            return read;
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            var read = await socket.ReceiveAsync(_buffer, token);
            if (read == 0)
            {
                return false;
            }

            _pending.Append(Encoding.Latin1.GetString(_buffer, 0, read));
            return true;
        }
    }
}
