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
}
