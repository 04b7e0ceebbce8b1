using System.Net.Sockets;

namespace AsyncHttp.Testing.Internal;

/// <summary>The exceptions <see cref="SocketsHttpHandler"/> throws when a server breaks the connection, as it throws them.</summary>
internal static class Faults
{
    /// <summary>The server broke the connection before the response headers.</summary>
    public static HttpRequestException BeforeHeaders(TestFault fault) => fault switch
    {
        TestFault.Reset => new HttpRequestException(HttpRequestError.Unknown, "An error occurred while sending the request.", Reset()),
        _ => new HttpRequestException(
            HttpRequestError.ResponseEnded,
            "An error occurred while sending the request.",
            new HttpIOException(HttpRequestError.ResponseEnded, "The response ended prematurely.")),
    };

    /// <summary>The server broke the connection in the body, with <paramref name="missing"/> declared bytes still to come.</summary>
    public static IOException InBody(TestFault fault, long? missing) => fault switch
    {
        TestFault.Reset => Reset(),
        _ => new HttpIOException(
            HttpRequestError.ResponseEnded,
            missing is { } bytes
                ? $"The response ended prematurely, with at least {bytes} additional bytes expected."
                : "The response ended prematurely."),
    };

    private static IOException Reset()
        => new("Unable to read data from the transport connection: Connection reset by peer.", new SocketException((int)SocketError.ConnectionReset));
}
