using System.Text;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Response;

/// <summary>
/// The body stream of a session's response, read the ways callers read it: in tiny pieces, with empty buffers, with a
/// token per read, with pauses between reads, after the slot went back, and against a server that cuts the body. Each
/// case runs on both ways a response reaches the caller: the session's own path, and through a middleware.
/// </summary>
public sealed class ReleasingStreamTests : IAsyncLifetime
{
    private readonly SignalingTimeProvider _time = new();
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private sealed class PassThroughHandler : DelegatingHandler;

    private ClientSession Session(bool middleware, ClientTimeout? timeout = null)
        => new(
            "stream",
            new ClientSessionOptions { Limit = 1, Timeout = timeout ?? new ClientTimeout { Total = null } },
            _time,
            middlewares: middleware ? [static () => new PassThroughHandler()] : null);

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_ChunkedBodyInOneBytePieces_KeepsTheSlotUntilItsEnd(bool middleware)
    {
        await using var session = Session(middleware);
        for (var i = 0; i < 3; i++)
        {
            _server.ReleaseChunk(Id("tiny", middleware));
        }

        var response = await session.GetAsync(_server.Url($"chunks?id={Id("tiny", middleware)}&count=3"));
        Assert.Null(response.ContentHeaders.ContentLength);
        var stream = await response.ReadAsStreamAsync();
        var text = new StringBuilder();
        var buffer = new byte[1];

        Assert.Equal(1, await stream.ReadAsync(buffer));
        text.Append((char)buffer[0]);
        Assert.False(response.IsReleased, "a body without a length ends with an empty read, not after its first byte");
        for (var i = 0; i < 100 && await stream.ReadAsync(buffer) == 1; i++)
        {
            text.Append((char)buffer[0]);
        }

        Assert.Equal("chunk0;chunk1;chunk2;", text.ToString());
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_EmptyBufferMidBody_ReadsNothingAndKeepsTheSlot(bool middleware)
    {
        const int size = 100_000;
        await using var session = Session(middleware);
        var response = await session.GetAsync(_server.Url($"big?size={size}"));
        var stream = await response.ReadAsStreamAsync();
        var buffer = new byte[8192];
        var total = await stream.ReadAsync(buffer.AsMemory(0, 10));

        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty));

        Assert.False(response.IsReleased, "an empty buffer reads nothing; it is not the end of the body");
        for (var i = 0; i < 1000 && total < size; i++)
        {
            total += await stream.ReadAsync(buffer);
        }

        Assert.Equal(size, total);
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_AfterTotalFired_ThrowsTotalTimeout(bool middleware)
    {
        var total = TimeSpan.FromSeconds(30);
        await using var session = Session(middleware, new ClientTimeout { Total = total });
        await using var response = await session.GetAsync(_server.Url("big?size=300000"));
        var stream = await response.ReadAsStreamAsync();
        Assert.Equal(10, await stream.ReadAsync(new byte[10]));

        _time.Advance(total);

        AssertNothingHeld(session);
        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => stream.ReadAsync(new byte[10]).AsTask());
        Assert.Equal(total, error.Timeout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_AfterTheResponseWasDisposed_ThrowsObjectDisposedSayingTheBodyWasCut(bool middleware)
    {
        await using var session = Session(middleware);
        var response = await session.GetAsync(_server.Url("big?size=300000"));
        var stream = await response.ReadAsStreamAsync();
        Assert.Equal(10, await stream.ReadAsync(new byte[10]));

        await response.DisposeAsync();

        AssertNothingHeld(session);
        var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.ReadAsync(new byte[10]).AsTask());
        Assert.Equal(nameof(ClientResponse), error.ObjectName);
        Assert.Contains("The response was released before its body was read to the end.", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_CallerPausesLongerThanSockReadBetweenReads_DoesNotTimeOut(bool middleware)
    {
        // SockRead bounds a read that waits for data, not the caller's own pause between two reads.
        var id = Id("pause", middleware);
        await using var session = Session(middleware, new ClientTimeout { Total = null, SockRead = TimeSpan.FromSeconds(5) });
        _server.ReleaseChunk(id);
        await using var response = await session.GetAsync(_server.Url($"chunks?id={id}&count=2"));
        var stream = await response.ReadAsStreamAsync();
        Assert.Equal("chunk0;", await ReadTextAsync(stream, "chunk0;".Length));

        _time.Advance(TimeSpan.FromSeconds(20));
        _server.ReleaseChunk(id);

        Assert.Equal("chunk1;", await ReadTextAsync(stream, "chunk1;".Length));
        Assert.Equal(0, await stream.ReadAsync(new byte[16]).AsTask().WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task ReadAsync_ItsTokenCancelledAfterTheReadCompleted_DoesNotCancelTheRequest(bool middleware, bool sockRead)
    {
        var id = Id(sockRead ? "token-sockread" : "token", middleware);
        await using var session = Session(middleware, new ClientTimeout { Total = null, SockRead = sockRead ? TimeSpan.FromHours(1) : null });
        await using var response = await session.GetAsync(_server.Url($"chunks?id={id}&count=2"));
        var stream = await response.ReadAsStreamAsync();
        var buffer = new byte[64];
        using var cancel = new CancellationTokenSource();

        // The read waits for the chunk: its token applies while it waits, and only then.
        var read = stream.ReadAsync(buffer, cancel.Token).AsTask();
        _server.ReleaseChunk(id);
        Assert.Equal("chunk0;", Encoding.ASCII.GetString(buffer, 0, await read.WaitAsync(TestServer.Patience)));
        await cancel.CancelAsync();

        Assert.False(response.IsReleased);
        _server.ReleaseChunk(id);
        Assert.Equal("chunk1;", await ReadTextAsync(stream, "chunk1;".Length));
        Assert.Equal(0, await stream.ReadAsync(buffer).AsTask().WaitAsync(TestServer.Patience));
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task ReadAsync_ItsTokenCancelledWhileTheReadWaits_CancelsTheRequestAndGivesTheSlotBack(bool middleware, bool sockRead)
    {
        var id = Id(sockRead ? "waiting-sockread" : "waiting", middleware);
        await using var session = Session(middleware, new ClientTimeout { Total = null, SockRead = sockRead ? TimeSpan.FromHours(1) : null });
        await using var response = await session.GetAsync(_server.Url($"chunks?id={id}&count=1"));
        var stream = await response.ReadAsStreamAsync();
        using var cancel = new CancellationTokenSource();

        // The server sends nothing until told: the read waits, and its token is all that can end it.
        var read = stream.ReadAsync(new byte[64], cancel.Token).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(TestServer.Patience));
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
        _server.ReleaseChunk(id);
    }

    [Theory]
    [InlineData(false, "plain")]
    [InlineData(false, "token")]
    [InlineData(false, "sockread")]
    [InlineData(true, "plain")]
    [InlineData(true, "token")]
    [InlineData(true, "sockread")]
    public async Task ReadAsync_ServerCutsTheBody_GivesTheSlotBackAtOnceWithoutADispose(bool middleware, string reads)
    {
        await using var session = Session(middleware, new ClientTimeout { Total = null, SockRead = reads == "sockread" ? TimeSpan.FromHours(1) : null });
        var id = Id("cut-" + reads, middleware);
        var response = await session.GetAsync(_server.Url($"resetbody?id={id}"));
        var stream = await response.ReadAsStreamAsync();
        _server.Open(id);
        using var cancel = new CancellationTokenSource();
        var token = reads == "token" ? cancel.Token : CancellationToken.None;
        var buffer = new byte[64];

        var error = await Record.ExceptionAsync(async () =>
        {
            for (var i = 0; i < 1000 && await stream.ReadAsync(buffer, token) > 0; i++)
            {
            }
        });

        Assert.IsType<ClientPayloadException>(error);
        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
        GC.KeepAlive(response);
    }

    private static string Id(string name, bool middleware) => $"{name}-{(middleware ? "mw" : "own")}";

    private static async Task<string> ReadTextAsync(Stream stream, int length)
    {
        var buffer = new byte[length];
        var filled = 0;
        for (var i = 0; i < 100 && filled < length; i++)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(TestServer.Patience);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return Encoding.ASCII.GetString(buffer, 0, filled);
    }
}
