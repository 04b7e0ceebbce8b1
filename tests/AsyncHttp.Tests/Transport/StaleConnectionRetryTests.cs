using System.Net;
using System.Text;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// A request that finds its kept-alive connection closed by the server is retried once on a fresh connection when
/// it is idempotent (as aiohttp does); a POST is not, since the server may have acted on it.
/// </summary>
public sealed class StaleConnectionRetryTests
{
    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task Idempotent_OnAConnectionTheServerJustClosed_IsRetriedOnceOnAFreshConnection(string method)
    {
        await using var server = new FaultServer();
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        await using (var first = await session.SendAsync(new HttpMethod(method), server.Url(FaultServer.StaleOnSecondRequest)))
        {
            await first.ReadAsBytesAsync();
        }

        await using var second = await session.SendAsync(new HttpMethod(method), server.Url(FaultServer.StaleOnSecondRequest)).WaitAsync(TestServer.Patience);

        Assert.Equal(200, second.Status);
        Assert.Equal(2, server.AcceptedConnections);
        Assert.Equal(3, server.RequestsReceived);
        Assert.Equal(0, session.Connector.Stats.Waiting);
    }

    [Theory]
    [InlineData("PUT")]
    [InlineData("GET")]
    [InlineData("DELETE")]
    [InlineData("OPTIONS")]
    public async Task IdempotentWithBody_OnAConnectionTheServerJustClosed_IsRetriedWithItsBody(string method)
    {
        // The transport resends only requests without a body: one with a body is the session's to send again, once.
        await using var server = new FaultServer();
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        (await session.SendAsync(new HttpMethod(method), server.Url(FaultServer.StaleOnSecondRequest), new StringContent("one"))).Dispose();

        await using var second = await session.SendAsync(new HttpMethod(method), server.Url(FaultServer.StaleOnSecondRequest), new StringContent("two")).WaitAsync(TestServer.Patience);

        Assert.Equal(200, second.Status);
        Assert.Equal(2, server.AcceptedConnections);
        Assert.Equal(3, server.RequestsReceived);
    }

    [Fact]
    public async Task IdempotentWithBody_ResentUploadTakesLongerThanSockRead_SockReadWaitsForItsEnd()
    {
        // SockRead bounds the wait for the response from the end of the upload: the resent upload is an upload again,
        // however long the first one ended before.
        var sockRead = TimeSpan.FromSeconds(2);
        var time = new SignalingTimeProvider();
        await using var server = new FaultServer();
        await using var session = new ClientSession("resend", new ClientSessionOptions { Limit = 1, Timeout = new ClientTimeout { Total = null, SockRead = sockRead } }, time);
        (await session.PutAsync(server.Url(FaultServer.StaleOnSecondRequest).AbsoluteUri, new StringContent("one")).WaitAsync(TestServer.Patience)).Dispose();
        using var content = new SlowWhenResentContent("two");

        var request = session.PutAsync(server.Url(FaultServer.StaleOnSecondRequest).AbsoluteUri, content);
        await content.WhenResent;
        time.Advance(2 * sockRead);
        content.Resume();

        await using var response = await request.WaitAsync(TestServer.Patience);
        Assert.Equal("ok", await response.ReadAsStringAsync());
        Assert.Equal((2, 3), (server.AcceptedConnections, server.RequestsReceived));
        await response.DisposeAsync();
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task Post_OnAConnectionTheServerJustClosed_IsNotRetried()
    {
        await using var server = new FaultServer();
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });
        await using (var first = await session.PostAsync(server.Url(FaultServer.StaleOnSecondRequest).AbsoluteUri, new StringContent("one")))
        {
            await first.ReadAsBytesAsync();
        }

        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.PostAsync(server.Url(FaultServer.StaleOnSecondRequest).AbsoluteUri, new StringContent("two")).WaitAsync(TestServer.Patience));

        Assert.Equal(1, server.AcceptedConnections);
        Assert.Equal(2, server.RequestsReceived);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    /// <summary>Content sent at once the first time; sent again, it first waits for <see cref="Resume"/> (a slow upload).</summary>
    private sealed class SlowWhenResentContent(string text) : HttpContent
    {
        private readonly byte[] _bytes = Encoding.UTF8.GetBytes(text);
        private readonly TaskCompletionSource _resent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _sends;

        /// <summary>Completes once the content is being sent a second time.</summary>
        public Task WhenResent => _resent.Task.WaitAsync(TestServer.Patience);

        public void Resume() => _resume.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _sends) == 2)
            {
                _resent.TrySetResult();
                await _resume.Task.WaitAsync(cancellationToken);
            }

            await stream.WriteAsync(_bytes, cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
            => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = _bytes.Length;
            return true;
        }
    }
}
