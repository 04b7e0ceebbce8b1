namespace AsyncHttp.Internal;

/// <summary>
/// The last step of a request, the one that differs between the session's callers: a <see cref="ClientResponse"/> for
/// the session's own API, an <see cref="HttpResponseMessage"/> for a handler's caller. Implemented by structs, so that
/// the one request path is compiled once per kind of caller, with no call through an interface and no allocation.
/// </summary>
/// <typeparam name="TResult">What the caller gets.</typeparam>
internal interface IRequestFinish<TResult>
{
    /// <summary>
    /// True when the response leaves the session: its content must then give the slot back itself, to whoever reads
    /// or drops it (<see cref="ReleasingContent"/>); otherwise the session reads the body through the lease.
    /// </summary>
    static abstract bool WrapsBody { get; }

    /// <summary>
    /// True when the request message is the caller's, who may send it again (a retry): the session leaves it as it
    /// found it, apart from what the caller would add itself (the URL made absolute, default headers).
    /// </summary>
    static abstract bool KeepsRequest { get; }

    /// <summary>Makes what the caller gets from the last hop's response, which holds <paramref name="lease"/>.</summary>
    static abstract TResult Finish(
        ClientSession session,
        HttpRequestMessage request,
        HttpResponseMessage response,
        Connector.SlotLease? lease,
        RequestContext context,
        List<RedirectHop>? hops,
        bool raiseForStatus);
}
