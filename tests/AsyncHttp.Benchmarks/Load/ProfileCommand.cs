using System.Diagnostics.Tracing;
using System.Globalization;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>profile --client session|raw|factory|flurl --url URL [--requests N] [--concurrency C] [--auto-decompress false]
/// [--use-cookies false] [--http2 1]</c>: an allocation profile
/// without tools. Runs N GETs and samples the runtime's AllocationTick events (one per ~100 KB allocated), then prints
/// the bytes per request and, per allocated type, its share of the samples as estimated bytes per request. Point it
/// at a server in another process (the nginx of run-load.sh) so that only the client's allocations are counted.
/// </summary>
public static class ProfileCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string? fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"--{name} is required.");
        }

        var url = Arg("url", null);
        var requests = int.Parse(Arg("requests", "100000"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Arg("concurrency", "1"), CultureInfo.InvariantCulture);
        // What a session feature costs: --auto-decompress false, --use-cookies false.
        var autoDecompress = bool.Parse(Arg("auto-decompress", "true"));
        var useCookies = bool.Parse(Arg("use-cookies", "true"));
        await using var client = LoadClient.Create(Arg("client", null), 100, 0, o =>
        {
            o.AutoDecompress = autoDecompress;
            o.UseCookies = useCookies;
        }, http2: Arg("http2", "0") == "1");

        for (var i = 0; i < 2000; i++)
        {
            await client.GetAsync(url);
        }

        using var listener = new AllocationListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = Environment.CpuUsage.TotalTime;
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < requests)
            {
                await client.GetAsync(url);
            }
        });
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(5));
        var perRequest = (double)(GC.GetTotalAllocatedBytes(precise: true) - before) / requests;
        var cpuPerRequest = (Environment.CpuUsage.TotalTime - cpuBefore).TotalMicroseconds / requests;

        Console.WriteLine($"{perRequest:F0} bytes and {cpuPerRequest:F1} µs CPU per request; {listener.Samples} samples");
        listener.Print(perRequest, 40);

        return 0;
    }

    internal sealed class AllocationListener : EventListener
    {
        public readonly Dictionary<string, int> ByType = [];

        public int Samples { get; private set; }

        /// <summary>Prints the top types, each as its share of the samples times <paramref name="bytesPerItem"/>.</summary>
        public void Print(double bytesPerItem, int top)
        {
            foreach (var (type, count) in ByType.OrderByDescending(p => p.Value).Take(top))
            {
                Console.WriteLine($"{bytesPerItem * count / Samples,8:F0}  {type}");
            }
        }

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || e.Payload is null)
            {
                return;
            }

            var i = e.PayloadNames!.IndexOf("TypeName");
            var type = i >= 0 ? e.Payload[i] as string ?? "?" : "?";
            lock (ByType)
            {
                ByType[type] = ByType.GetValueOrDefault(type) + 1;
                Samples++;
            }
        }
    }
}
