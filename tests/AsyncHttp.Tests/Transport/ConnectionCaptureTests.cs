using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AsyncHttp.Tests.Infrastructure;
using AsyncHttp.Tests.Reliability;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// A refused response closes the connection its own request went out on: over TLS too (where the handshake writes in
/// another flow), and never another request's connection.
/// </summary>
public sealed class ConnectionCaptureTests
{
    private const string AmbiguousResponse =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

    [Fact]
    public async Task RefusedResponse_OverTls_ClosesItsConnection()
    {
        using var certificate = SafeDefaultsTests.CreateSelfSigned();
        await using var server = new TlsServer(certificate, AmbiguousResponse);
        var options = new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true, KeepAliveTimeout = TimeSpan.FromMinutes(10) };
        var session = new ClientSession("tls", options);

        await Assert.ThrowsAsync<ClientPayloadException>(() => session.GetAsync(server.Url));

        Assert.Equal((0, 0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting, session.Connector.Stats.OpenConnections));
        await server.WhenClientClosed();
        await session.DisposeAsync();
    }

    [Fact]
    public async Task RefusedResponse_WithAnotherRequestInFlight_ClosesOnlyItsOwnConnection()
    {
        await using var server = new FaultServer();
        var session = new ClientSession("two", new ClientSessionOptions { Limit = 2, KeepAliveTimeout = TimeSpan.FromMinutes(10) });
        using var cancel = new CancellationTokenSource();
        var waiting = session.GetAsync(server.Url(FaultServer.NeverAnswers), cancellationToken: cancel.Token);
        await server.WhenRequestReceived();

        await Assert.ThrowsAsync<ClientPayloadException>(() => session.GetAsync(server.Url(FaultServer.ContentLengthAndChunked)));

        // The other request keeps its connection and its slot.
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.OpenConnections));
        Assert.False(waiting.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    /// <summary>An https server on raw sockets that answers one request with a fixed response and waits for the close.</summary>
    private sealed class TlsServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;

        public TlsServer(X509Certificate2 certificate, string response)
        {
            _listener.Start();
            _serving = ServeAsync(certificate, response);
        }

        public Uri Url => new($"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public Task WhenClientClosed() => _closed.Task.WaitAsync(TestServer.Patience);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _serving.WaitAsync(TestServer.Patience).ContinueWith(_ => { });
            _stop.Dispose();
        }

        private async Task ServeAsync(X509Certificate2 certificate, string response)
        {
            try
            {
                using var socket = await _listener.AcceptSocketAsync(_stop.Token);
                await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
                await tls.AuthenticateAsServerAsync(certificate);
                var buffer = new byte[4096];
                var head = new StringBuilder();
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && head.Length < 64 * 1024)
                {
                    var read = await tls.ReadAsync(buffer, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.Latin1.GetString(buffer, 0, read));
                }

                await tls.WriteAsync(Encoding.Latin1.GetBytes(response), _stop.Token);
                for (var i = 0; i < 1000 && await tls.ReadAsync(buffer, _stop.Token) > 0; i++)
                {
                }

                _closed.TrySetResult();
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A reset is a close too.
                _closed.TrySetResult();
            }
        }
    }
}
