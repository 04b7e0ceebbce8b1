namespace AsyncHttp.Internal;

/// <summary>
/// A slot held for one response, and the transport's body it is tied to: the end of the body, a failed read or a
/// dispose gives the slot back, exactly once (<see cref="Release"/>).
/// </summary>
internal sealed class SlotLease
{
    private const long NotLookedUp = -2;
    private const long None = -1;

    private readonly HostState _host;
    private long _declaredLength = NotLookedUp;
    private int _released;

    /// <param name="host">The host whose slot it is.</param>
    /// <param name="body">The transport's response content.</param>
    /// <param name="context">The request, told when the slot goes back.</param>
    public SlotLease(HostState host, HttpContent body, RequestContext? context)
    {
        _host = host;
        Body = body;
        Context = context;
    }

    /// <summary>The transport's response content.</summary>
    public HttpContent Body { get; }

    public RequestContext? Context { get; }

    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>The body length the server declared, as the transport already parsed it; looked up once.</summary>
    public long? DeclaredLength
    {
        get
        {
            var declared = _declaredLength;
            if (declared == NotLookedUp)
            {
                _declaredLength = declared = Body.Headers.ContentLength ?? None;
            }

            return declared == None ? null : declared;
        }
    }

    /// <summary>The transport's body stream as the caller reads it: giving the slot back at its end.</summary>
    public ReleasingStream Wrap(Stream transport) => new(transport, this);

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
