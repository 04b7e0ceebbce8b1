namespace AsyncHttp.Tests.Infrastructure;

/// <summary>Runs the collector until a session's dropped responses are reclaimed, awaiting the signal, not the clock.</summary>
public static class Collector
{
    /// <summary>
    /// Collects and runs the finalizers (which hand each reclaim to the thread pool: closing a connection is I/O) until
    /// the connector has no slot in use, a bounded number of times: an object still on some thread's stack at one
    /// collection is gone at the next.
    /// </summary>
    public static async Task UntilIdleAsync(ClientSession session)
    {
        var idle = session.Connector.WhenIdleAsync();
        for (var i = 0; i < 50 && !idle.IsCompleted; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Yield();
        }

        await idle.WaitAsync(TestServer.Patience);
    }
}
