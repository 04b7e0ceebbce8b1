using Microsoft.Extensions.Logging;

namespace AsyncHttp;

public sealed partial class ClientSession
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, EventName = "RequestFailed", Level = LogLevel.Debug, Message = "{Method} {Url} failed with {ErrorType}.")]
        public static partial void RequestFailed(ILogger logger, HttpMethod method, string url, string errorType, Exception exception);

        [LoggerMessage(EventId = 1002, EventName = "ResponseLeaked", Level = LogLevel.Warning,
            Message = "A response to {Method} {Url} was dropped without being read to its end or disposed; its connection slot was reclaimed by the garbage collector. Dispose every ClientResponse (await using).")]
        public static partial void ResponseLeaked(ILogger logger, HttpMethod method, string url);

        [LoggerMessage(EventId = 1003, EventName = "SessionClosed", Level = LogLevel.Debug, Message = "Session {Session} closed.")]
        public static partial void Closed(ILogger logger, string session);
    }
}
