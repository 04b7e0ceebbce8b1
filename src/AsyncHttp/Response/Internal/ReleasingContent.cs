using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// The response content as the pipeline above admission sees it: the transport's content, whose stream gives the
/// slot back at the end of the body, and whose disposal gives it back if the body was not read.
/// </summary>
internal sealed class ReleasingContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly SlotLease _lease;
    private readonly RequestContext? _context;
    private readonly string? _encoding;
    private readonly long _maxDecodedSize;

    public ReleasingContent(HttpContent inner, SlotLease lease, RequestContext? context, long? maxDecodedSize)
    {
        _inner = inner;
        _lease = lease;
        _context = context;
        if (maxDecodedSize is { } max && DecodingStream.Supported(inner.Headers.ContentEncoding) is { } encoding)
        {
            _encoding = encoding;
            _maxDecodedSize = max;
        }

        foreach (var header in inner.Headers.NonValidated)
        {
            // A decoded body no longer has the encoding or the length the server declared.
            if (_encoding is not null
                && (header.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) || header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    public SlotLease Lease => _lease;

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        => Wrap(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        => Wrap(_inner.ReadAsStream(cancellationToken));

    private Stream Wrap(Stream transport)
    {
        var body = new ReleasingStream(transport, _lease, _context);
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
            _inner.Dispose();
            if (_lease.Release())
            {
                _context?.OnLeaseReleased(_lease);
            }
        }

        base.Dispose(disposing);
    }
}
