using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Reliability;

/// <summary>
/// Every fault of a hostile server gives its documented exception (docs/reliability.md), and leaves no slot in use,
/// no waiter, and no socket open on either side.
/// </summary>
public sealed class FaultTests
{
    private const int BufferLimit = 1024 * 1024;

    public static TheoryData<string, Type, HttpRequestError?> Faults => new()
    {
        { FaultServer.ResetDuringHeaders, typeof(ServerDisconnectedException), HttpRequestError.ResponseEnded },
        { FaultServer.ResetDuringBody, typeof(ServerDisconnectedException), HttpRequestError.ResponseEnded },
        { FaultServer.CloseAfterHeaders, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.TruncatedChunked, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.ShortContentLength, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.OversizedHeaders, typeof(ClientException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.EndlessHeaders, typeof(ClientException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.EndlessBody, typeof(ClientPayloadException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.GarbageStatusLine, typeof(ClientException), HttpRequestError.InvalidResponse },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Fault_GivesItsDocumentedException_AndLeaksNothing(string fault, Type expected, HttpRequestError? error)
    {
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { Limit = 2, MaxResponseContentBufferSize = BufferLimit });

        var thrown = await Record.ExceptionAsync(async () =>
        {
            await using var response = await session.GetAsync(server.Url(fault));
            await response.ReadAsBytesAsync();
        });

        Assert.NotNull(thrown);
        Assert.IsType(expected, thrown);
        if (error is { } code)
        {
            Assert.Equal(code, ((HttpRequestException)thrown).HttpRequestError);
        }

        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await server.WhenAllSocketsClosed();
    }

    [Theory]
    [InlineData(nameof(ClientResponse.ReadAsBytesAsync))]
    [InlineData(nameof(ClientResponse.ReadAsStringAsync))]
    public async Task HugeContentLength_UnderACapAboveTwoGiB_GivesPayloadException_AndLeaksNothing(string reader)
    {
        // The cap allows the declared 3 GiB, an array does not: the reader must say so, not overflow.
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { MaxResponseContentBufferSize = 4 * FaultServer.HugeLength });
        await using var response = await session.GetAsync(server.Url(FaultServer.HugeContentLength));
        Assert.Equal(FaultServer.HugeLength, response.ContentHeaders.ContentLength);

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => reader == nameof(ClientResponse.ReadAsBytesAsync)
            ? response.ReadAsBytesAsync()
            : response.ReadAsStringAsync());

        Assert.Contains(FaultServer.HugeLength.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, error.HttpRequestError);
        Assert.True(response.IsReleased);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await server.WhenAllSocketsClosed();
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task TrickledHeaders_ByteByByte_AreParsed()
    {
        await using var server = new FaultServer();
        var session = new ClientSession();

        await using (var response = await session.GetAsync(server.Url(FaultServer.TrickledHeaders)))
        {
            Assert.Equal("trickle", await response.ReadAsStringAsync());
        }

        Assert.Equal(0, session.Connector.Stats.InUse);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task ServerThatNeverAnswers_GivesSocketReadTimeout_AndLeaksNothing()
    {
        var time = new SignalingTimeProvider();
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { Timeout = { SockRead = TimeSpan.FromSeconds(7) } }, time);
        var request = session.GetAsync(server.Url(FaultServer.NeverAnswers));

        await server.WhenRequestReceived();
        time.Advance(TimeSpan.FromSeconds(7));

        await Assert.ThrowsAsync<SocketReadTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task ListenerThatNeverAccepts_GivesSocketConnectTimeout_AndLeaksNothing()
    {
        var time = new SignalingTimeProvider();
        var sockConnect = TimeSpan.FromSeconds(11);
        using var backlog = await LoopbackSockets.FullBacklogAsync();
        var session = new ClientSession("faults", new ClientSessionOptions { Timeout = { SockConnect = sockConnect } }, time);
        var request = session.GetAsync($"http://127.0.0.1:{backlog.Port}/");

        await time.WhenTimerCreated(sockConnect);
        time.Advance(sockConnect);

        await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal((0, 0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting, session.Connector.Stats.OpenConnections));
        await session.DisposeAsync();
    }
}
