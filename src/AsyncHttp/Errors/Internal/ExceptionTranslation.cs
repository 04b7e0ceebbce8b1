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

        if (exception is HttpIOException hio)
        {
            return hio.HttpRequestError == HttpRequestError.ResponseEnded && inBody
                ? new ClientPayloadException("The response body ended before its declared length (truncated payload).", hio, HttpRequestError.ResponseEnded)
                : new ServerDisconnectedException($"The connection failed while reading the response: {hio.Message}", hio);
        }

        if (exception is IOException io)
        {
            return new ServerDisconnectedException(
                IsReset(io) ? "The server reset the connection." : $"The connection failed while reading the response: {io.Message}", io);
        }

        return exception;
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
