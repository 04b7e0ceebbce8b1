namespace AsyncHttp;

/// <summary>
/// Hooks into the life of a session's requests, after aiohttp's <c>TraceConfig</c>: set the callbacks you need and
/// pass the trace to the session. Callbacks run inline on the request's path, never under a lock: keep them short.
/// An exception thrown by a callback fails the request.
/// </summary>
public sealed class ClientTrace
{
    /// <summary>Called once per request, before anything else.</summary>
    public Action<ClientTraceEvent>? OnRequestStart { get; set; }

    /// <summary>Called when the final response's headers are in.</summary>
    public Action<ClientTraceEvent>? OnRequestEnd { get; set; }

    /// <summary>Called when the request fails.</summary>
    public Action<ClientTraceEvent>? OnRequestException { get; set; }

    /// <summary>Called for each redirect followed.</summary>
    public Action<ClientTraceEvent>? OnRequestRedirect { get; set; }

    /// <summary>Called when the request starts waiting in the connector's queue.</summary>
    public Action<ClientTraceEvent>? OnConnectionQueuedStart { get; set; }

    /// <summary>Called when the request leaves the queue with a slot.</summary>
    public Action<ClientTraceEvent>? OnConnectionQueuedEnd { get; set; }

    /// <summary>Called when a new connection is being made for the request.</summary>
    public Action<ClientTraceEvent>? OnConnectionCreateStart { get; set; }

    /// <summary>Called when the new connection is up.</summary>
    public Action<ClientTraceEvent>? OnConnectionCreateEnd { get; set; }

    /// <summary>Called when the request was served on a connection that was already open.</summary>
    public Action<ClientTraceEvent>? OnConnectionReuse { get; set; }

    /// <summary>Called when a host name starts resolving.</summary>
    public Action<ClientTraceEvent>? OnDnsResolveStart { get; set; }

    /// <summary>Called when a host name is resolved.</summary>
    public Action<ClientTraceEvent>? OnDnsResolveEnd { get; set; }

    /// <summary>Called when a host name is found in the DNS cache.</summary>
    public Action<ClientTraceEvent>? OnDnsCacheHit { get; set; }

    /// <summary>Called when a host name is not in the DNS cache.</summary>
    public Action<ClientTraceEvent>? OnDnsCacheMiss { get; set; }

    internal void Raise(ClientTraceEvent e)
    {
        var callback = e.Kind switch
        {
            TraceEventKind.RequestStart => OnRequestStart,
            TraceEventKind.RequestEnd => OnRequestEnd,
            TraceEventKind.RequestException => OnRequestException,
            TraceEventKind.RequestRedirect => OnRequestRedirect,
            TraceEventKind.ConnectionQueuedStart => OnConnectionQueuedStart,
            TraceEventKind.ConnectionQueuedEnd => OnConnectionQueuedEnd,
            TraceEventKind.ConnectionCreateStart => OnConnectionCreateStart,
            TraceEventKind.ConnectionCreateEnd => OnConnectionCreateEnd,
            TraceEventKind.ConnectionReuse => OnConnectionReuse,
            TraceEventKind.DnsResolveStart => OnDnsResolveStart,
            TraceEventKind.DnsResolveEnd => OnDnsResolveEnd,
            TraceEventKind.DnsCacheHit => OnDnsCacheHit,
            _ => OnDnsCacheMiss,
        };
        callback?.Invoke(e);
    }
}
