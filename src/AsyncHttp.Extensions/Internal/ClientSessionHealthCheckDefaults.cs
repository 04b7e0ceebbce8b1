namespace AsyncHttp.Extensions.Internal;

/// <summary>The defaults of the health check's thresholds, in one place; the XML docs of the options state them.</summary>
internal static class ClientSessionHealthCheckDefaults
{
    public const double DegradedQueueRatio = 0.8;

    public static readonly TimeSpan DegradedQueueWait = TimeSpan.FromSeconds(30);

    /// <summary>The name of a session's health check registration, as its log category is named.</summary>
    public static string RegistrationName(string session) => $"AsyncHttp.ClientSession.{session}";
}
