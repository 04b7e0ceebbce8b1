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
        { FaultServer.CloseBeforeResponse, typeof(ServerDisconnectedException), HttpRequestError.ResponseEnded },
        { FaultServer.ResetDuringHeaders, typeof(ServerDisconnectedException), HttpRequestError.ResponseEnded },
        { FaultServer.ResetDuringBody, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.CloseAfterHeaders, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.TruncatedChunked, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.ShortContentLength, typeof(ClientPayloadException), HttpRequestError.ResponseEnded },
        { FaultServer.OversizedHeaders, typeof(ClientException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.EndlessHeaders, typeof(ClientException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.EndlessBody, typeof(ClientPayloadException), HttpRequestError.ConfigurationLimitExceeded },
        { FaultServer.GarbageStatusLine, typeof(ClientException), HttpRequestError.InvalidResponse },
        { FaultServer.MalformedChunked, typeof(ClientPayloadException), HttpRequestError.InvalidResponse },
    };

    /// <summary>The faults of a connection that ends during the body, for each way of reading it.</summary>
    public static TheoryData<string, string> BodyDisconnects
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var fault in new[] { FaultServer.ResetDuringBody, FaultServer.CloseAfterHeaders, FaultServer.TruncatedChunked, FaultServer.ShortContentLength })
            {
                foreach (var reader in new[] { "bytes", "stream", "chunks", "lines" })
                {
                    data.Add(fault, reader);
                }
            }

            return data;
        }
    }

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
    [MemberData(nameof(BodyDisconnects))]
    public async Task DisconnectDuringTheBody_GivesPayloadExceptionWithTheDisconnectInside_AndLeaksNothing(string fault, string reader)
    {
        // As aiohttp's ClientPayloadError: the body is incomplete, and the disconnect is the cause.
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { Limit = 1 });
        await using var response = await session.GetAsync(server.Url(fault));

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => ReadToTheEndAsync(response, reader));

        Assert.Equal(HttpRequestError.ResponseEnded, error.HttpRequestError);
        var disconnect = Assert.IsType<ServerDisconnectedException>(error.InnerException);
        Assert.IsAssignableFrom<IOException>(disconnect.InnerException);
        Assert.True(response.IsReleased);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task DisconnectBeforeAnyResponseByte_StaysServerDisconnected()
    {
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { Limit = 1 });

        var error = await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.GetAsync(server.Url(FaultServer.CloseBeforeResponse)));

        Assert.Equal(HttpRequestError.ResponseEnded, error.HttpRequestError);
        Assert.IsNotType<ClientPayloadException>(error.InnerException);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        // The transport sends a request without a body again on a connection that fails before any response byte, up to
        // three times; the session adds no round of its own on top (it would make eight sends).
        Assert.Equal(4, server.RequestsReceived);
        Assert.Equal(4, server.AcceptedConnections);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task DisconnectBeforeAnyResponseByte_IdempotentRequestWithABody_IsSentOnceMore()
    {
        await using var server = new FaultServer();
        var session = new ClientSession("faults", new ClientSessionOptions { Limit = 1 });

        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.PutAsync(server.Url(FaultServer.CloseBeforeResponse).AbsoluteUri, new StringContent("body")));

        // The transport does not send a body twice; the session does, once, for an idempotent method.
        Assert.Equal(2, server.RequestsReceived);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
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

    [Theory]
    [InlineData(FaultServer.ContentLengthAndChunked, false)]
    [InlineData(FaultServer.ContentLengthAndChunked, true)]
    [InlineData(FaultServer.RedirectToContentLengthAndChunked, false)]
    public async Task ContentLengthWithChunked_IsRejectedAtTheHeaders_AndTheConnectionClosed(string fault, bool withMiddleware)
    {
        // Content-Length: 3 and a chunked "hello": which framing a reader trusts decides where the next response
        // starts (RFC 9112 6.3), so the response is refused and its connection is not used again. Checked where each
        // hop comes back from the transport: the session's first hop, admission below a middleware, a redirect hop.
        await using var server = new FaultServer();
        Func<DelegatingHandler>[] middlewares = withMiddleware ? [() => new PassThroughHandler()] : [];
        // A long keep-alive: an idle connection left in the pool would stay open for the whole test.
        var options = new ClientSessionOptions { Limit = 1, KeepAliveTimeout = TimeSpan.FromMinutes(10) };
        var session = new ClientSession("faults", options, middlewares: middlewares);

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => session.GetAsync(server.Url(fault)));

        Assert.Equal(HttpRequestError.InvalidResponse, error.HttpRequestError);
        Assert.Contains("Transfer-Encoding", error.Message, StringComparison.Ordinal);
        Assert.Equal((0, 0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting, session.Connector.Stats.OpenConnections));
        await server.WhenAllSocketsClosed();

        // The next request opens a new connection, and is refused the same way.
        var accepted = server.AcceptedConnections;
        await Assert.ThrowsAsync<ClientPayloadException>(() => session.GetAsync(server.Url(FaultServer.ContentLengthAndChunked)));
        Assert.Equal(accepted + 1, server.AcceptedConnections);
        Assert.Equal((0, 0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting, session.Connector.Stats.OpenConnections));
        await server.WhenAllSocketsClosed();
        await session.DisposeAsync();
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

    private static async Task ReadToTheEndAsync(ClientResponse response, string reader)
    {
        switch (reader)
        {
            case "bytes":
                await response.ReadAsBytesAsync();
                break;
            case "stream":
                await using (var stream = await response.ReadAsStreamAsync())
                {
                    await stream.CopyToAsync(Stream.Null);
                }

                break;
            case "chunks":
                await foreach (var chunk in response.ReadChunksAsync(1024))
                {
                    Assert.False(chunk.IsEmpty);
                }

                break;
            default:
                await foreach (var line in response.ReadLinesAsync())
                {
                    Assert.NotNull(line);
                }

                break;
        }
    }

    private sealed class PassThroughHandler : DelegatingHandler;
}
