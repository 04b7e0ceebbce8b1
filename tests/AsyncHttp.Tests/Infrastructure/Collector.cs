namespace AsyncHttp.Tests.Infrastructure;

/// <summary>Runs the collector until a session's dropped responses are reclaimed, awaiting the signal, not the clock.</summary>
public static class Collector
{
    /// <summary>
    /// Collects, runs the finalizers (which hand each reclaim to the thread pool: closing a connection is I/O), then
    /// awaits the connector having no slot in use.
    /// </summary>
    public static async Task UntilIdleAsync(ClientSession session)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        await session.Connector.WhenIdleAsync().WaitAsync(TestServer.Patience);
    }
}
