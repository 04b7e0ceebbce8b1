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
        // The typed ContentEncoding collection is allocated on first use: look at it only when the header is there.
        if (maxDecodedSize is { } max
            && inner.Headers.NonValidated.Contains("Content-Encoding")
            && DecodingStream.Supported(inner.Headers.ContentEncoding) is { } encoding)
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
    public long? DeclaredLength => _encoding is null ? _inner.Headers.ContentLength : null;

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
