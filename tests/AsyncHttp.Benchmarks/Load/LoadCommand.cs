using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>load --client session|raw|factory|factory-session|flurl --workload NAME --url URL [--url2 URL] --requests N --concurrency C
/// --limit L [--limit-per-host P] [--expect-bytes B] [--warmup W] [--warmup-seconds S] [--max-seconds S] [--memory-trace 1]
/// [--http2 1]</c>: runs one client through one
/// workload in this process and prints one JSON line (requests, errors, seconds, CPU seconds, peak RSS, allocated
/// bytes). With <c>--url2</c> requests alternate between the two URLs. <c>C</c> workers each loop until
/// <c>N</c> requests have been started; <c>C = N</c> starts every request at once.
/// </summary>
public static class LoadCommand
{
    /// <summary>The warm-up's concurrency: the run's, but for a burst (above 1,000 at once), the limit's.</summary>
    public static int WarmConcurrency(int concurrency, int limit) => concurrency <= 1000 ? concurrency : Math.Max(limit, 1);

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        var clientName = Required(options, "client");
        var workload = Required(options, "workload");
        var url = Required(options, "url");
        var url2 = options.GetValueOrDefault("url2");
        var requests = Int(options, "requests", null);
        var concurrency = Int(options, "concurrency", null);
        var limit = Int(options, "limit", null);
        var limitPerHost = Int(options, "limit-per-host", 0);
        var expectBytes = Int(options, "expect-bytes", -1);
        var warmup = Int(options, "warmup", Math.Min(1000, requests / 10));
        var warmupSeconds = double.Parse(options.GetValueOrDefault("warmup-seconds", "1"), CultureInfo.InvariantCulture);
        var maxSeconds = Int(options, "max-seconds", 120);

        var http2 = options.GetValueOrDefault("http2") == "1";
        await using var client = LoadClient.Create(clientName, limit, limitPerHost, http2: http2);
        var version = await client.ProbeVersionAsync(url);
        if (http2 && version != System.Net.HttpVersion.Version20)
        {
            throw new InvalidOperationException($"--http2 1: the server answered with HTTP/{version}, not HTTP/2.");
        }
        var deadline = TimeSpan.FromSeconds(maxSeconds);

        // Warm-up for --warmup-seconds and at least --warmup requests: tiered JIT, connections, pools. Not measured:
        // without it a short run measures the JIT more than the client. At the run's own concurrency, so that the
        // connections the server counts over a run are the workload's; a burst (above 1,000) warms up at the limit's.
        var warmConcurrency = WarmConcurrency(concurrency, limit);
        var warm = await RunAsync(client, url, url2, warmup, warmConcurrency, expectBytes, deadline);
        var warmClock = Stopwatch.StartNew();
        while (warmClock.Elapsed.TotalSeconds < warmupSeconds)
        {
            var more = await RunAsync(client, url, url2, warmup, warmConcurrency, expectBytes, deadline);
            warm = (warm.Errors + more.Errors, warm.FirstError ?? more.FirstError);
        }

        var rssBefore = RssKb("VmRSS:");
        using var trace = options.ContainsKey("memory-trace") ? new MemoryTrace() : null;
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var gen0Before = GC.CollectionCount(0);
        var gen2Before = GC.CollectionCount(2);
        var clock = Stopwatch.StartNew();
        var run = await RunAsync(client, url, url2, requests, concurrency, expectBytes, deadline);
        var seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        var line = new Dictionary<string, object?>
        {
            ["client"] = clientName,
            ["workload"] = workload,
            ["requests"] = requests,
            ["limit"] = limit,
            ["errors"] = run.Errors + warm.Errors,
            ["seconds"] = Math.Round(seconds, 4),
            ["cpu_seconds"] = Math.Round(cpu, 4),
            ["peak_rss_kb"] = RssKb("VmHWM:"),
            ["rss_before_kb"] = rssBefore,
            ["allocated_bytes"] = allocated,
            ["gen0"] = GC.CollectionCount(0) - gen0Before,
            ["gen2"] = GC.CollectionCount(2) - gen2Before,
            ["first_error"] = run.FirstError ?? warm.FirstError,
            ["version"] = version?.ToString(),
            ["client_connections"] = client.ConnectionsOpened,
        };
        Console.WriteLine(JsonSerializer.Serialize(line));
        return run.Errors + warm.Errors == 0 ? 0 : 1;
    }

    private static async Task<(int Errors, string? FirstError)> RunAsync(
        LoadClient client, string url, string? url2, int requests, int concurrency, int expectBytes, TimeSpan deadline)
    {
        if (requests <= 0)
        {
            return (0, null);
        }

        var next = -1L;
        var errors = 0;
        string? firstError = null;
        var workers = new Task[Math.Min(concurrency, requests)];
        for (var w = 0; w < workers.Length; w++)
        {
            workers[w] = Worker();
        }

        // Bounded in time as well as in count: a hung run fails instead of waiting forever.
        await Task.WhenAll(workers).WaitAsync(deadline);
        return (errors, firstError);

        async Task Worker()
        {
            long i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                try
                {
                    var length = await client.GetAsync(url2 is not null && (i & 1) == 1 ? url2 : url);
                    if (expectBytes >= 0 && length != expectBytes)
                    {
                        throw new InvalidOperationException($"Body of {length} bytes, expected {expectBytes}.");
                    }
                }
                catch (Exception ex)
                {
                    if (Interlocked.Increment(ref errors) == 1)
                    {
                        firstError = $"{ex.GetType().Name}: {ex.Message}";
                    }
                }
            }
        }
    }

    /// <summary>A line of /proc/self/status in KiB: the peak resident set (VmHWM:) or the current one (VmRSS:).</summary>
    private static long RssKb(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    /// <summary>
    /// <c>--memory-trace</c>: what the resident set is made of during the measured phase, sampled every 20 ms on a
    /// thread of its own and printed to stderr at the end: RSS, the GC heap in use and the memory the GC has committed.
    /// </summary>
    private sealed class MemoryTrace : IDisposable
    {
        private readonly List<string> _samples = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;

        public MemoryTrace()
        {
            _thread = new Thread(() =>
            {
                // Bounded: at most 10 minutes of samples.
                for (var i = 0; i < 30_000 && !_stop.Token.WaitHandle.WaitOne(20); i++)
                {
                    var info = GC.GetGCMemoryInfo();
                    _samples.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{_clock.ElapsedMilliseconds,6} ms  rss {RssKb("VmRSS:") / 1024,4} MB  heap in use {GC.GetTotalMemory(false) >> 20,4} MB  committed {info.TotalCommittedBytes >> 20,4} MB  gen0 {GC.CollectionCount(0)} gen2 {GC.CollectionCount(2)}"));
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join();
            _stop.Dispose();
            foreach (var sample in _samples)
            {
                Console.Error.WriteLine(sample);
            }
        }
    }

    internal static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected '--name value', got '{args[i]}'.");
            }

            options[args[i][2..]] = args[++i];
        }

        return options;
    }

    private static string Required(Dictionary<string, string> options, string name)
        => options.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required.");

    private static int Int(Dictionary<string, string> options, string name, int? fallback)
        => options.TryGetValue(name, out var value)
            ? int.Parse(value, CultureInfo.InvariantCulture)
            : fallback ?? throw new ArgumentException($"--{name} is required.");
}
