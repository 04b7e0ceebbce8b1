using AsyncHttp.Tests.Infrastructure;
using AsyncHttp.Tests.Requests;

namespace AsyncHttp.Tests.Response;

/// <summary>The readers: JSON with a content-type check, chunks, lines, charsets, size caps, decompression.</summary>
public sealed class ClientResponseReaderTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ReadFromJsonAsync_JsonResponse_DeserializesAndReleases()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("json"));

        var order = await response.ReadFromJsonAsync(TestJsonContext.Default.Order);

        Assert.Equal(new Order("ada", 3), order);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ReadFromJsonAsync_HtmlResponse_ThrowsContentTypeException()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("html"));

        var error = await Assert.ThrowsAsync<ContentTypeException>(() => response.ReadFromJsonAsync(TestJsonContext.Default.Order));

        Assert.Equal("application/json", error.Expected);
        Assert.StartsWith("text/html", error.Actual, StringComparison.Ordinal);
        Assert.Contains("text/html", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadChunksAsync_ReadsEveryByteAndReleasesAtTheEnd()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("big?size=100000"));

        var total = 0;
        var chunks = 0;
        await foreach (var chunk in response.ReadChunksAsync(8192))
        {
            total += chunk.Length;
            Assert.True(chunk.Length <= 8192);
            Assert.True(++chunks <= 100000);
        }

        Assert.Equal(100000, total);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ReadChunksAsync_LeftEarly_ReleasesTheSlot()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("big?size=1000000"));

        await foreach (var chunk in response.ReadChunksAsync(1024))
        {
            Assert.False(chunk.IsEmpty);
            break;
        }

        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ReadLinesAsync_SplitsOnLfAndCrLf()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("lines"));

        var lines = new List<string>();
        await foreach (var line in response.ReadLinesAsync())
        {
            lines.Add(line);
        }

        Assert.Equal(["first", "second", "third"], lines);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task ReadLinesAsync_LineOverMaxLineLength_ThrowsPayloadExceptionAndReleases()
    {
        var session = new ClientSession(new ClientSessionOptions { MaxLineLength = 5 });
        await using var response = await session.GetAsync(_server.Url("lines"));
        var lines = new List<string>();

        var error = await Assert.ThrowsAsync<ClientPayloadException>(async () =>
        {
            await foreach (var line in response.ReadLinesAsync())
            {
                lines.Add(line);
            }
        });

        Assert.Equal(["first"], lines);
        Assert.Contains("MaxLineLength (5 characters)", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(session, response);
    }

    [Fact]
    public async Task ReadLinesAsync_LeftEarly_ReleasesTheSlot()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("lines"));

        await foreach (var line in response.ReadLinesAsync())
        {
            Assert.Equal("first", line);
            break;
        }

        Assert.True(response.IsReleased);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void MaxLineLength_NotPositive_IsRejectedNamingTheKey(int value)
    {
        var error = Assert.Single(new ClientSessionOptions { MaxLineLength = value }.Validate());

        Assert.StartsWith("MaxLineLength must be positive", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadFromJsonAsync_BodyOverMaxResponseContentBufferSize_ThrowsPayloadExceptionAndReleases()
    {
        var session = new ClientSession(new ClientSessionOptions { MaxResponseContentBufferSize = 10 });
        await using var response = await session.GetAsync(_server.Url("json"));

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadFromJsonAsync(TestJsonContext.Default.Order));

        Assert.Contains("MaxResponseContentBufferSize (10 bytes)", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(session, response);
    }

    private async Task AssertNothingLeftAsync(ClientSession session, ClientResponse response)
    {
        Assert.True(response.IsReleased);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task ReadAsStringAsync_DecodesTheDeclaredCharset()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("latin1"));

        Assert.Equal("café", await response.ReadAsStringAsync());
    }

    [Fact]
    public async Task MaxResponseContentBufferSize_Exceeded_ThrowsPayloadExceptionAndReleases()
    {
        await using var session = new ClientSession(new ClientSessionOptions { MaxResponseContentBufferSize = 1000 });
        await using var response = await session.GetAsync(_server.Url("big?size=5000"));

        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadAsBytesAsync());

        Assert.Contains("MaxResponseContentBufferSize", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task AutoDecompress_CompressedBody_IsDecodedAndReleased(string encoding)
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url($"compressed?encoding={encoding}&size=300000"));

        var body = await response.ReadAsBytesAsync();

        Assert.Equal(300000, body.Length);
        Assert.Empty(response.ContentHeaders.ContentEncoding);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task MaxDecompressedContentSize_Exceeded_ThrowsPayloadExceptionAndReleases()
    {
        // A megabyte of zeros compresses to about a kilobyte: the cap is on what it decodes to.
        await using var session = new ClientSession(new ClientSessionOptions { MaxDecompressedContentSize = 64 * 1024 });
        await using var response = await session.GetAsync(_server.Url("compressed?encoding=gzip&size=1000000"));
        var stream = await response.ReadAsStreamAsync();

        var error = await Assert.ThrowsAsync<ClientPayloadException>(async () =>
        {
            var buffer = new byte[16384];
            for (var i = 0; i < 1000 && await stream.ReadAsync(buffer) > 0; i++)
            {
            }
        });

        Assert.Contains("MaxDecompressedContentSize", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task AutoDecompress_Off_LeavesTheBodyEncoded()
    {
        await using var session = new ClientSession(new ClientSessionOptions { AutoDecompress = false });
        await using var response = await session.GetAsync(_server.Url("compressed?encoding=gzip&size=300000"));

        var body = await response.ReadAsBytesAsync();

        Assert.True(body.Length < 300000);
        Assert.Equal("gzip", Assert.Single(response.ContentHeaders.ContentEncoding));
    }
}
