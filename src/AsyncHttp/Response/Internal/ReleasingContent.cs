using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// The response content as middlewares see it: the transport's content, whose stream gives the slot back at the end
/// of the body, and whose disposal gives it back if the body was not read. A session without middlewares reads the
/// transport's content through its lease directly, unless the body is decoded.
/// </summary>
/// <remarks>
/// Whoever holds this content (a middleware, or a caller of a handler) may drop it: it is the body's guard, so when it
/// and every stream it opened are unreachable, the collector reclaims the slot and the session says so. The request
/// keeps the lease, never this object, so the guard is not kept alive by the session itself.
/// </remarks>
internal sealed class ReleasingContent : HttpContent, IBodyGuard
{
    private readonly Connector.SlotLease _lease;
    private readonly RequestContext? _context;
    private readonly string? _encoding;
    private readonly long _maxDecodedSize;
    private readonly long? _declaredLength;
    private readonly bool _bodiless;

    /// <param name="lease">The slot; its body is the transport's content.</param>
    /// <param name="context">The request, which reads with its timeouts and is told of a leak.</param>
    /// <param name="encoding">The content coding to decode, if any.</param>
    /// <param name="maxDecodedSize">The largest decoded body.</param>
    /// <param name="bodiless">
    /// The response has no body (a HEAD, 204 or 304 response, or an empty one): its slot went back with the headers,
    /// and its stream is empty.
    /// </param>
    public ReleasingContent(Connector.SlotLease lease, RequestContext? context, string? encoding, long maxDecodedSize, bool bodiless = false)
    {
        _bodiless = bodiless;
        if (bodiless)
        {
            // Its slot goes back with the headers (Admission.Carry): nothing will be left for a finalizer to reclaim.
            GC.SuppressFinalize(this);
        }

        _lease = lease;
        _context = context;
        _encoding = encoding;
        _maxDecodedSize = maxDecodedSize;
        var transport = lease.Body!;
        var decoded = encoding is not null;
        _declaredLength = decoded ? null : transport.Headers.ContentLength;
        foreach (var header in transport.Headers.NonValidated)
        {
            // A decoded body no longer has the encoding or the length the server declared. The length of a body that
            // is not decoded is set below as the number the transport parsed: copied as text, it would be formatted
            // here and parsed again by its first reader (HttpClient reads it for every buffered body).
            var isLength = header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase);
            if (isLength || (decoded && header.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase)))
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

        if (_declaredLength is { } length)
        {
            Headers.ContentLength = length;
        }
    }

    /// <summary>Reclaims the slot of a content dropped without being read to its end or disposed.</summary>
    ~ReleasingContent()
    {
        _context?.Session.OnGuardFinalized();
        if (_lease.IsReleased)
        {
            return;
        }

        if (_context is { } context)
        {
            context.Session.OnResponseLeaked(context.Method ?? HttpMethod.Get, context.Url);
        }

        // Closing the connection is I/O: keep it off the finalizer thread.
        ThreadPool.UnsafeQueueUserWorkItem(static lease => lease.Release(), _lease, preferLocal: false);
    }

    public Connector.SlotLease Lease => _lease;

    /// <inheritdoc/>
    [SuppressMessage("Usage", "CA1816:Dispose methods should call SuppressFinalize", Justification = "The finalizer only reclaims an unreleased slot; once the slot is back it has nothing to do.")]
    void IBodyGuard.OnSlotReleased() => GC.SuppressFinalize(this);

    /// <summary>
    /// The body length the server declared, as the transport already parsed it (reading it from the copied headers
    /// would parse it again); none for a body decoded here.
    /// </summary>
    public long? DeclaredLength => _declaredLength;

    /// <summary>Detects the content coding of a transport's response that the session decodes, if any.</summary>
    public static string? DecodedEncoding(HttpContent body, long? maxDecodedSize)
        // The typed ContentEncoding collection is allocated on first use: look at it only when the header is there.
        => maxDecodedSize is not null && body.Headers.NonValidated.Contains("Content-Encoding")
            ? DecodingStream.Supported(body.Headers.ContentEncoding)
            : null;

    // The transport's content opens its stream without I/O (as ClientResponse relies on too): no state machine here.
    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        => Task.FromResult(CreateContentReadStream(cancellationToken));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        => _bodiless ? Stream.Null : Wrap(_lease.Body!.ReadAsStream(cancellationToken));

    private Stream Wrap(Stream transport)
    {
        // The stream keeps this content reachable: a caller that keeps only the stream keeps the slot.
        var body = new ReleasingStream(transport, _lease, _context, _declaredLength, owner: this);
        return _encoding is null ? body : new DecodingStream(body, _encoding, _maxDecodedSize);
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var source = CreateContentReadStream(cancellationToken);
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
        return _bodiless;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // HttpContent.Dispose() suppresses the finalizer. The lease closes the transport's content first, so the next admitted request finds the connection settled.
            _lease.Release();
        }

        base.Dispose(disposing);
    }
}
