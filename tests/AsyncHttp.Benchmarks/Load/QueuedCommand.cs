using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>queued --client session|raw|factory|flurl [--requests N] [--types]</c>: the managed memory one queued request holds. A
/// loopback listener that never answers takes the first request on the one connection the limit (1) allows; the
/// other N - 1 wait in the client's queue (the connector's for a session, the handler's pool otherwise). After a full
/// collection the heap growth per request is printed, with the types that hold it. The process then exits without
/// cleaning up. <c>--types</c> adds what was allocated while queueing, by type (sampled, as <c>profile</c> does).
/// </summary>
public static class QueuedCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        var requests = int.Parse(Arg("requests", "100000"), CultureInfo.InvariantCulture);
        var clientName = Arg("client", "session");

        // A listener that accepts nothing: the kernel completes the first connect from its backlog and the request
        // waits for a response that never comes, holding the only slot.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(16);
        var url = $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndPoint!).Port}/small";

        var client = LoadClient.Create(clientName, limit: 1, limitPerHost: 0);
        var first = client.GetAsync(url);
        await Task.Delay(500);

        var before = Heap();
        var listener = args.Contains("--types") ? new ProfileCommand.AllocationListener() : null;
        var pending = new Task[requests - 1];
        for (var i = 0; i < pending.Length; i++)
        {
            pending[i] = client.GetAsync(url);
        }

        // Let every request reach its queue (continuations on the thread pool included).
        await Task.Delay(2000);
        var after = Heap();
        var stillPending = pending.Count(t => !t.IsCompleted);
        Console.WriteLine(
            $"{clientName}: {(double)(after - before) / pending.Length:F0} bytes per queued request " +
            $"({pending.Length} queued, {stillPending} still pending, heap {after / 1048576.0:F0} MB)");
        listener?.Print((double)(after - before) / pending.Length, 30);
        GC.KeepAlive(first);
        GC.KeepAlive(pending);
        Environment.Exit(0);
        return 0;
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
