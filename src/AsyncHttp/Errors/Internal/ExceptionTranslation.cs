using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>Maps transport errors to the library's exception types.</summary>
internal static class ExceptionTranslation
{
    public static Exception Translate(Exception exception, bool inBody)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is ClientException own)
            {
                return own;
            }
        }

        if (exception is HttpRequestException hre)
        {
            return hre.HttpRequestError switch
            {
                HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                    => new ClientConnectorException(hre.Message, hre, hre.HttpRequestError),
                HttpRequestError.ResponseEnded => new ServerDisconnectedException("The server closed the connection before sending a complete response.", hre),
                _ when IsReset(hre) => new ServerDisconnectedException("The server reset the connection.", hre),
                _ => new ClientException(hre.Message, hre, hre.HttpRequestError, hre.StatusCode),
            };
        }

        if (inBody && exception is IOException failure)
        {
            return InBody(failure);
        }

        if (exception is IOException io)
        {
            return new ServerDisconnectedException(
                IsReset(io) ? "The server reset the connection." : $"The connection failed while reading the response: {io.Message}", io);
        }

        return exception;
    }

    /// <summary>
    /// A failed read of the body: the body is incomplete (<see cref="ClientPayloadException"/>), with the disconnect as
    /// its inner exception when the connection closed or reset, as aiohttp raises <c>ClientPayloadError</c> from the
    /// disconnect; a body the transport could not parse (a malformed chunk) is a payload error of its own.
    /// </summary>
    private static ClientPayloadException InBody(IOException failure)
    {
        if (failure is HttpIOException { HttpRequestError: not HttpRequestError.ResponseEnded } malformed)
        {
            return new ClientPayloadException($"The response body is malformed: {malformed.Message}", malformed, malformed.HttpRequestError);
        }

        var what = IsReset(failure) ? "the server reset the connection" : $"the connection closed before its end ({failure.Message})";
        return new ClientPayloadException(
            $"The response body is incomplete: {what}.",
            new ServerDisconnectedException($"During the response body, {what}.", failure),
            HttpRequestError.ResponseEnded);
    }

    /// <summary>True when a socket error in the chain says the peer reset or aborted the connection.</summary>
    public static bool IsReset(Exception exception)
    {
        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown })
            {
                return true;
            }
        }

        return false;
    }
}
