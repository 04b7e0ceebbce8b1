namespace AsyncHttp.Testing;

/// <summary>How a <see cref="TestUpstream"/> breaks a connection, as a misbehaving server would.</summary>
public enum TestFault
{
    /// <summary>No fault: the response is delivered whole.</summary>
    None,

    /// <summary>
    /// The server resets the connection (TCP RST). Before the headers, the session sees what
    /// <see cref="SocketsHttpHandler"/> reports for a reset, and the request is sent again as over real sockets (a
    /// request without a body up to 3 more times, by the transport; an idempotent one with a body once more, by the
    /// session), then fails with <see cref="ServerDisconnectedException"/>. In the body, reading fails with
    /// <see cref="ClientPayloadException"/>, the <see cref="ServerDisconnectedException"/> inside it.
    /// </summary>
    Reset,

    /// <summary>
    /// The server closes the connection before its response is complete. Before the headers, the session sees "the
    /// response ended prematurely" (the request is sent again as for <see cref="Reset"/>); in a body of declared length,
    /// reading fails with <see cref="ClientPayloadException"/> (a truncated payload).
    /// </summary>
    Close,
}
