namespace AsyncHttp.Internal;

/// <summary>What ended a request before it could finish, if anything did; the first one to happen wins.</summary>
internal enum Interruption
{
    /// <summary>Nothing: the request runs, or finished on its own.</summary>
    None,

    /// <summary>The caller's token, or a read token, was cancelled (or the caller gave up on the response).</summary>
    Caller,

    /// <summary><see cref="ClientTimeout.Total"/> passed.</summary>
    Total,

    /// <summary><see cref="ClientTimeout.Connect"/> passed.</summary>
    Connect,

    /// <summary><see cref="ClientTimeout.SockConnect"/> passed.</summary>
    SockConnect,

    /// <summary><see cref="ClientTimeout.SockRead"/> passed.</summary>
    SockRead,

    /// <summary>The session closed with the request in flight.</summary>
    SessionClosed,

    /// <summary>The shared connector the session draws on closed with the request in flight.</summary>
    ConnectorClosed,
}
