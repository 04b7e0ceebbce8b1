namespace AsyncHttp.Testing;

/// <summary>How a <see cref="TestUpstream"/> breaks a connection, as a misbehaving server would.</summary>
public enum TestFault
{
    /// <summary>No fault: the response is delivered whole.</summary>
    None,

    /// <summary>
    /// The server resets the connection (TCP RST). Before the headers, the session sees what
    /// <see cref="SocketsHttpHandler"/> reports for a reset; an idempotent request is sent once more, as it is for a
    /// kept-alive connection the server dropped, then fails with <see cref="ServerDisconnectedException"/>. In the body,
    /// reading fails with <see cref="ServerDisconnectedException"/>.
    /// </summary>
    Reset,

    /// <summary>
    /// The server closes the connection before its response is complete. Before the headers, the session sees "the
    /// response ended prematurely" (an idempotent request is sent once more); in a body of declared length, reading
    /// fails with <see cref="ClientPayloadException"/> (a truncated payload).
    /// </summary>
    Close,
}
