namespace AsyncHttp;

/// <summary>The moments of a request that <see cref="ClientTrace"/> reports, after aiohttp's trace signals.</summary>
public enum TraceEventKind
{
    /// <summary>The request was sent to the session (once, before any redirect).</summary>
    RequestStart,

    /// <summary>The final response's headers are in.</summary>
    RequestEnd,

    /// <summary>The request failed.</summary>
    RequestException,

    /// <summary>A redirect is being followed.</summary>
    RequestRedirect,

    /// <summary>The request found no free slot and waits in the connector's queue.</summary>
    ConnectionQueuedStart,

    /// <summary>The request left the queue with a slot.</summary>
    ConnectionQueuedEnd,

    /// <summary>A new connection is being made for the request.</summary>
    ConnectionCreateStart,

    /// <summary>The new connection is up.</summary>
    ConnectionCreateEnd,

    /// <summary>The request was served on a connection that was already open.</summary>
    ConnectionReuse,

    /// <summary>A host name is being resolved.</summary>
    DnsResolveStart,

    /// <summary>The host name was resolved.</summary>
    DnsResolveEnd,

    /// <summary>The host name was found in the DNS cache.</summary>
    DnsCacheHit,

    /// <summary>The host name was not in the DNS cache.</summary>
    DnsCacheMiss,
}
