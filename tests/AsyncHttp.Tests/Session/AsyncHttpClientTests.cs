using System.Runtime.CompilerServices;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Session;

/// <summary>
/// One-shot requests: a session made for the call, closed (with its connection) once the response is released, with a
/// session's timeouts and exceptions. The server counts the connections left open.
/// </summary>
public sealed class AsyncHttpClientTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task GetAsync_BodyRead_TheSessionClosesItsConnection()
    {
        await using (var response = await AsyncHttpClient.GetAsync(_server.Url("ok").ToString()))
        {
            Assert.Equal(200, response.Status);
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        await _server.WhenNoOpenConnections();
        Assert.Equal(1, _server.AcceptedConnections);
    }

    [Fact]
    public async Task GetAsync_HeldUntilDisposed_TheConnectionStaysUntilThen()
    {
        var response = await AsyncHttpClient.GetAsync(_server.Url("slowbody?id=held").ToString());
        Assert.Equal(1, _server.OpenConnections);

        await response.DisposeAsync();

        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task SendAsync_PostsItsContent_AndTakesTheSessionsSettings()
    {
        using var content = new StringContent("payload");
        var sessionOptions = new ClientSessionOptions { BaseAddress = _server.BaseAddress, Headers = { ["X-One-Shot"] = "yes" } };

        await using (var response = await AsyncHttpClient.SendAsync(HttpMethod.Post, "method", content, sessionOptions: sessionOptions))
        {
            Assert.Equal("POST text/plain; charset=utf-8 payload", await response.ReadAsStringAsync());
        }

        await using (var echoed = await AsyncHttpClient.GetAsync("headers", sessionOptions: sessionOptions))
        {
            Assert.Contains("X-One-Shot: yes", await echoed.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task SockRead_ServerNeverAnswers_SameTimeoutExceptionAsASession_NothingLeftOpen()
    {
        // SockRead fires whatever the machine's load: the server never answers.
        var options = new RequestOptions { Timeout = new ClientTimeout { SockRead = TimeSpan.FromMilliseconds(50) } };

        var error = await Assert.ThrowsAsync<SocketReadTimeoutException>(() => AsyncHttpClient.GetAsync(_server.Url("hold?id=never").ToString(), options));

        Assert.Equal(TimeSpan.FromMilliseconds(50), error.Timeout);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Errors_AreTheSessions_RaiseForStatusAndRefusedConnections()
    {
        var raising = new RequestOptions { RaiseForStatus = true };
        var status = await Assert.ThrowsAsync<ResponseStatusException>(() => AsyncHttpClient.GetAsync(_server.Url("status/503").ToString(), raising));
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, status.StatusCode);

        var port = LoopbackSockets.ClosedPort();
        await Assert.ThrowsAsync<ClientConnectorException>(() => AsyncHttpClient.GetAsync($"http://127.0.0.1:{port}/"));
        await Assert.ThrowsAsync<ArgumentException>(() => AsyncHttpClient.GetAsync("relative/without/base"));
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task SendAsync_OnASharedConnector_IsRefused()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => AsyncHttpClient.GetAsync(_server.Url("ok").ToString(), sessionOptions: new ClientSessionOptions { Connector = "upstream" }));

        Assert.Contains("owns its connector", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _server.AcceptedConnections);
    }

    [Fact]
    public async Task Dropped_WithoutRelease_TheCollectorReclaimsIt_AndTheSessionCloses()
    {
        await DropAsync(_server.Url("slowbody?id=dropped"));
        var closed = _server.WhenNoOpenConnections();
        for (var i = 0; i < 50 && !closed.IsCompleted; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Yield();
        }

        await closed;

        [MethodImpl(MethodImplOptions.NoInlining)]
        static async Task DropAsync(Uri url)
        {
            var response = await AsyncHttpClient.GetAsync(url.ToString());
            Assert.Equal(200, response.Status);
        }
    }
}
