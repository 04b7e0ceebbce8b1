using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// A request's content as the transport sends it when <see cref="ClientTimeout.SockRead"/> is set: the caller's content,
/// written as it is, and a signal to the request once its last byte has been written, so that SockRead bounds the wait
/// for the response and not the upload. The transport sends the content before it reads the response (HTTP/1.1), so
/// the end of the serialization is when the request has been sent.
/// </summary>
/// <remarks>
/// Only the transport sees this object: <see cref="Admission"/> puts it on the request for the send and puts the
/// caller's content back afterwards, so middlewares, the caller and <see cref="HttpResponseMessage.RequestMessage"/>
/// see their own content. It does not own the caller's content.
/// </remarks>
internal sealed class UploadContent : HttpContent
{
    private readonly HttpContent _content;
    private readonly RequestContext _request;

    public UploadContent(HttpContent content, RequestContext request)
    {
        _content = content;
        _request = request;

        // The transport writes these: the caller's headers as stored. The length is this content's, computed from the
        // caller's (TryComputeLength), so it is not copied as a header.
        foreach (var header in content.Headers.NonValidated)
        {
            if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }
    }

    /// <summary>The caller's content, put back on the request once it has been sent.</summary>
    public HttpContent Inner => _content;

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await _content.CopyToAsync(stream, context, cancellationToken).ConfigureAwait(false);
        _request.RequestSent();
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _content.CopyTo(stream, context, cancellationToken);
        _request.RequestSent();
    }

    protected override bool TryComputeLength(out long length)
    {
        if (_content.Headers.ContentLength is { } known)
        {
            length = known;
            return true;
        }

        length = 0;
        return false;
    }

    protected override Task<Stream> CreateContentReadStreamAsync() => _content.ReadAsStreamAsync();

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => _content.ReadAsStreamAsync(cancellationToken);
}
