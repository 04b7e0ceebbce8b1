using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Internal;

internal sealed partial class SessionRegistry
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, EventName = "SessionCreated", Level = LogLevel.Debug, Message = "Client session {Session} created.")]
        public static partial void SessionCreated(ILogger logger, string session);

        [LoggerMessage(EventId = 2002, EventName = "SessionReconfigured", Level = LogLevel.Information,
            Message = "Client session {Session} reconfigured: new requests use the reloaded settings.")]
        public static partial void SessionReconfigured(ILogger logger, string session);

        [LoggerMessage(EventId = 2003, EventName = "ReloadRejected", Level = LogLevel.Error,
            Message = "Reloaded settings of client session {Session} are invalid and were ignored; it keeps its last valid settings. {Errors}")]
        public static partial void ReloadRejected(ILogger logger, string session, string errors);

        [LoggerMessage(EventId = 2004, EventName = "ReloadFailed", Level = LogLevel.Error,
            Message = "Reloaded settings of client session {Session} could not be applied; it keeps its current settings.")]
        public static partial void ReloadFailed(ILogger logger, string session, Exception exception);

        [LoggerMessage(EventId = 2005, EventName = "ClosingSessions", Level = LogLevel.Debug,
            Message = "Closing {Count} client sessions: no new requests; requests in flight may finish until the shutdown timeout.")]
        public static partial void ClosingSessions(ILogger logger, int count);

        [LoggerMessage(EventId = 2006, EventName = "SessionsClosed", Level = LogLevel.Debug, Message = "{Count} client sessions closed.")]
        public static partial void SessionsClosed(ILogger logger, int count);
    }
}
