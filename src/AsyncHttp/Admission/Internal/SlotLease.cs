namespace AsyncHttp.Internal;

/// <summary>
/// A slot held for one response, and the transport's body it is tied to: the end of the body, a failed read or a
/// dispose gives the slot back, exactly once (<see cref="Release"/>).
/// </summary>
internal sealed class SlotLease
{
    private readonly HostState _host;
    private readonly long _maxDecodedSize;
    private int _released;

    /// <param name="host">The host whose slot it is.</param>
    /// <param name="body">The transport's response content.</param>
    /// <param name="context">The request, told when the slot goes back.</param>
    /// <param name="maxDecodedSize">Decode a compressed body up to this size; null leaves it encoded.</param>
    public SlotLease(HostState host, HttpContent body, RequestContext? context, long? maxDecodedSize)
    {
        _host = host;
        Body = body;
        Context = context;
        // The typed ContentEncoding collection is allocated on first use: look at it only when the header is there.
        if (maxDecodedSize is { } max
            && body.Headers.NonValidated.Contains("Content-Encoding")
            && DecodingStream.Supported(body.Headers.ContentEncoding) is { } encoding)
        {
            Encoding = encoding;
            _maxDecodedSize = max;
        }
    }

    /// <summary>The transport's response content.</summary>
    public HttpContent Body { get; }

    public RequestContext? Context { get; }

    /// <summary>The content coding decoded above the transport, if any.</summary>
    public string? Encoding { get; }

    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>
    /// The body length the server declared, as the transport already parsed it; none for a body decoded here.
    /// </summary>
    public long? DeclaredLength => Encoding is null ? Body.Headers.ContentLength : null;

    /// <summary>The body as the caller reads it: giving the slot back at its end, decoded when it is compressed.</summary>
    public Stream Wrap(Stream transport)
    {
        var body = new ReleasingStream(transport, this);
        return Encoding is null ? body : new DecodingStream(body, Encoding, _maxDecodedSize);
    }

    /// <summary>Gives the slot back; true for the call that did it.</summary>
    public bool Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return false;
        }

        _host.Connector.Release(_host);
        Context?.OnLeaseReleased(this);
        return true;
    }
}
