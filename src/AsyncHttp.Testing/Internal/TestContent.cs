using System.Net;

namespace AsyncHttp.Testing.Internal;

/// <summary>The body of a <see cref="TestResponse"/>, read as the session reads a transport's body: as a stream.</summary>
internal sealed class TestContent(TestResponse response, bool bodiless, TimeProvider time) : HttpContent
{
    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(CreateContentReadStream(CancellationToken.None));

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        => Task.FromResult(CreateContentReadStream(cancellationToken));

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        => new TestBodyStream(bodiless ? new TestResponse() : response, time);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var body = CreateContentReadStream(cancellationToken);
        await using (body.ConfigureAwait(false))
        {
            await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        // The length is what the response declares (set as a header), not computed.
        length = 0;
        return false;
    }
}
