using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Internal;

internal sealed partial class ConnectorRegistry
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 2010, EventName = "ConnectorCreated", Level = LogLevel.Debug, Message = "Connector {Connector} created.")]
        public static partial void ConnectorCreated(ILogger logger, string connector);

        [LoggerMessage(EventId = 2011, EventName = "ConnectorReconfigured", Level = LogLevel.Information,
            Message = "Connector {Connector} reconfigured: the next admission decisions use the reloaded limits.")]
        public static partial void ConnectorReconfigured(ILogger logger, string connector);

        [LoggerMessage(EventId = 2012, EventName = "ConnectorReloadRejected", Level = LogLevel.Error,
            Message = "Reloaded settings of connector {Connector} are invalid and were ignored; it keeps its last valid settings. {Errors}")]
        public static partial void ReloadRejected(ILogger logger, string connector, string errors);

        [LoggerMessage(EventId = 2013, EventName = "ConnectorReloadFailed", Level = LogLevel.Error,
            Message = "Reloaded settings of connector {Connector} could not be applied; it keeps its current settings.")]
        public static partial void ReloadFailed(ILogger logger, string connector, Exception exception);
    }
}
