using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// The response content as middlewares see it: the transport's content, whose stream gives the slot back at the end
/// of the body, and whose disposal gives it back if the body was not read. A session without middlewares reads the
/// transport's content through its <see cref="SlotLease"/> directly, unless the body is decoded.
/// </summary>
internal sealed class ReleasingContent : HttpContent
{
    private readonly SlotLease _lease;
    private readonly string? _encoding;
    private readonly long _maxDecodedSize;

    /// <param name="lease">The slot and the transport's content.</param>
    /// <param name="encoding">The content coding to decode, if any.</param>
    /// <param name="maxDecodedSize">The largest decoded body.</param>
    public ReleasingContent(SlotLease lease, string? encoding, long maxDecodedSize)
    {
        _lease = lease;
        _encoding = encoding;
        _maxDecodedSize = maxDecodedSize;
        var decoded = encoding is not null;
        foreach (var header in lease.Body.Headers.NonValidated)
        {
            // A decoded body no longer has the encoding or the length the server declared.
            if (decoded
                && (header.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) || header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            // A single value is added as its string: no boxed enumerable, and stored unparsed as the transport stored it.
            var values = header.Value;
            if (values.Count == 1)
            {
                Headers.TryAddWithoutValidation(header.Key, values.ToString());
            }
            else
            {
                Headers.TryAddWithoutValidation(header.Key, values);
            }
        }
    }

    public SlotLease Lease => _lease;

    /// <summary>
    /// The body length the server declared, as the transport already parsed it (reading it from the copied headers
    /// would parse it again); none for a body decoded here.
    /// </summary>
    public long? DeclaredLength => _encoding is null ? _lease.DeclaredLength : null;

    /// <summary>Detects the content coding of a transport's response that the session decodes, if any.</summary>
    public static string? DecodedEncoding(HttpContent body, long? maxDecodedSize)
        // The typed ContentEncoding collection is allocated on first use: look at it only when the header is there.
        => maxDecodedSize is not null && body.Headers.NonValidated.Contains("Content-Encoding")
            ? DecodingStream.Supported(body.Headers.ContentEncoding)
            : null;

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        => Wrap(await _lease.Body.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        => Wrap(_lease.Body.ReadAsStream(cancellationToken));

    private Stream Wrap(Stream transport)
    {
        var body = _lease.Wrap(transport);
        return _encoding is null ? body : new DecodingStream(body, _encoding, _maxDecodedSize);
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var source = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            await source.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // The transport drains or closes the connection first, so the next admitted request finds it settled.
            _lease.Body.Dispose();
            _lease.Release();
        }

        base.Dispose(disposing);
    }
}
