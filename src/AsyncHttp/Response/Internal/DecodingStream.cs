using System.IO.Compression;

namespace AsyncHttp.Internal;

/// <summary>
/// Decodes a gzip, deflate (zlib) or brotli body, failing once it decodes to more than the cap, and reads the
/// encoded body to its end after the last decoded byte so the slot goes back at the end of the body.
/// </summary>
internal sealed class DecodingStream : ReadOnlyStream
{
    private const int MaxTrailingReads = 16;

    private readonly ReleasingStream _source;
    private readonly Stream _decoder;
    private readonly long _max;
    private long _decoded;

    public DecodingStream(ReleasingStream source, string encoding, long max)
    {
        _source = source;
        _max = max;
        _decoder = encoding switch
        {
            "gzip" => new GZipStream(source, CompressionMode.Decompress, leaveOpen: true),
            "deflate" => new ZLibStream(source, CompressionMode.Decompress, leaveOpen: true),
            _ => new BrotliStream(source, CompressionMode.Decompress, leaveOpen: true),
        };
    }

    /// <summary>The one encoding this stream can decode, or null (none, several, or an unknown one).</summary>
    public static string? Supported(ICollection<string> contentEncoding)
    {
        if (contentEncoding.Count != 1)
        {
            return null;
        }

        return contentEncoding.First().Trim().ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => "gzip",
            "deflate" => "deflate",
            "br" => "br",
            _ => null,
        };
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await _decoder.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            Dispose();
            throw new ClientPayloadException($"The compressed response body is malformed: {ex.Message}", ex);
        }

        if (read == 0 && !buffer.IsEmpty)
        {
            // The decoder stops at its own end marker; the transport's end of body is what releases the slot.
            var scratch = new byte[64];
            for (var i = 0; i < MaxTrailingReads && await _source.ReadAsync(scratch, cancellationToken).ConfigureAwait(false) > 0; i++)
            {
            }

            _source.Dispose();
            return 0;
        }

        _decoded += read;
        if (_decoded > _max)
        {
            Dispose();
            throw new ClientPayloadException($"The response body decompresses to more than MaxDecompressedContentSize ({_max} bytes).");
        }

        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _decoder.Dispose();
            _source.Dispose();
        }

        base.Dispose(disposing);
    }
}
