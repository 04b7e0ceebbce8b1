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

    public ReleasingContent(HttpContent inner, SlotLease lease, RequestContext? context)
    {
        _inner = inner;
        _lease = lease;
        _context = context;
        foreach (var header in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    public SlotLease Lease => _lease;

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        => new ReleasingStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), _lease, _context);

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        => new ReleasingStream(_inner.ReadAsStream(cancellationToken), _lease, _context);

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
