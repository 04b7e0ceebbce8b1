using System.Text;
using AsyncHttp.Internal;

namespace AsyncHttp.Tests.Response;

/// <summary>The line reader behind ReadLinesAsync: StreamReader's line endings, and a bound on the length of a line.</summary>
public sealed class LineReaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadLineAsync_EndsLinesAtLfCrLfAndCr_AsStreamReaderDoes(bool trickled)
    {
        const string body = "a\nb\r\nc\rd\n\ne\r\r\nlast";

        var lines = await ReadAllAsync(Encoding.UTF8.GetBytes(body), maxLength: 100, trickled);

        Assert.Equal(await StreamReaderLinesAsync(body), lines);
        Assert.Equal(["a", "b", "c", "d", "", "e", "", "last"], lines);
    }

    [Fact]
    public async Task ReadLineAsync_CrLfSplitAcrossReads_IsOneLineEnd()
    {
        // The CR is the last character of the reader's first chunk, its LF the first of the next.
        var body = new string('x', 4095) + "\r\n" + "next\n";

        var lines = await ReadAllAsync(Encoding.ASCII.GetBytes(body), maxLength: 10_000, trickled: false);

        Assert.Equal([new string('x', 4095), "next"], lines);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadLineAsync_LineOfExactlyTheBound_IsReturned(bool trickled)
    {
        // Longer than one chunk, so the line is put together from several reads.
        var line = new string('y', 10_000);

        var lines = await ReadAllAsync(Encoding.UTF8.GetBytes(line + "\r\nz"), maxLength: 10_000, trickled);

        Assert.Equal([line, "z"], lines);
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("")]
    public async Task ReadLineAsync_LineOneCharacterOverTheBound_Fails(string ending)
    {
        var body = Encoding.UTF8.GetBytes("ok\n" + new string('y', 10_001) + ending);
        using var reader = new LineReader(new MemoryStream(body), Encoding.UTF8, maxLength: 10_000);

        Assert.Equal("ok", await reader.ReadLineAsync(CancellationToken.None));
        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => reader.ReadLineAsync(CancellationToken.None).AsTask());

        Assert.Contains("MaxLineLength (10000 characters)", error.Message, StringComparison.Ordinal);
        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, error.HttpRequestError);
    }

    [Fact]
    public async Task ReadLineAsync_BoundCountsCharactersNotBytes()
    {
        // 5 characters, 15 bytes in UTF-8.
        var lines = await ReadAllAsync(Encoding.UTF8.GetBytes("日本語日本\n"), maxLength: 5, trickled: true);

        Assert.Equal(["日本語日本"], lines);
    }

    [Fact]
    public async Task ReadLineAsync_ByteOrderMark_WinsOverTheDeclaredCharset()
    {
        var body = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("café\nthé")).ToArray();

        var lines = await ReadAllAsync(body, maxLength: 100, trickled: false);

        Assert.Equal(["café", "thé"], lines);
    }

    [Fact]
    public async Task Dispose_DisposesTheBody()
    {
        var body = new MemoryStream("a\nb"u8.ToArray());
        var reader = new LineReader(body, Encoding.UTF8, maxLength: 10);
        Assert.Equal("a", await reader.ReadLineAsync(CancellationToken.None));

        reader.Dispose();

        Assert.False(body.CanRead);
    }

    private static async Task<List<string>> ReadAllAsync(byte[] body, int maxLength, bool trickled)
    {
        using var reader = new LineReader(trickled ? new TrickleStream(body) : new MemoryStream(body), Encoding.UTF8, maxLength);
        var lines = new List<string>();
        for (var i = 0; i <= body.Length && await reader.ReadLineAsync(CancellationToken.None) is { } line; i++)
        {
            lines.Add(line);
        }

        return lines;
    }

    private static async Task<List<string>> StreamReaderLinesAsync(string body)
    {
        using var reader = new StringReader(body);
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>Gives at most 3 bytes per read, so that line ends and characters fall across reads.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => base.ReadAsync(buffer[..Math.Min(buffer.Length, 3)], cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 3));
    }
}
