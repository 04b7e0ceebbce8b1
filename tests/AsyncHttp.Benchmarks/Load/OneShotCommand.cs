using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>oneshot --url URL [--requests N] [--rounds R]</c>: what a one-shot call (<see cref="AsyncHttpClient.GetAsync"/>: a
/// session made for the call, a new connection, closed at release) costs against a GET on a session whose connection
/// is kept alive: sequential GETs whose bodies are read, the two modes interleaved over R rounds, medians. Prints one
/// JSON line per mode: wall time, CPU time and bytes allocated per call, and connections opened. An https URL is
/// accepted with a self-signed certificate (the nginx of run-load.sh).
/// </summary>
public static class OneShotCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var url = Value(args, "url") ?? throw new ArgumentException("--url is required.");
        var requests = int.Parse(Value(args, "requests") ?? "500", CultureInfo.InvariantCulture);
        var rounds = int.Parse(Value(args, "rounds") ?? "3", CultureInfo.InvariantCulture);
        var options = new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true };

        await using var session = new ClientSession("reused", options);
        var results = new Dictionary<string, List<(double Wall, double Cpu, double Alloc)>> { ["session"] = [], ["one-shot"] = [] };

        // Warm-up, unmeasured: JIT, the session's connection.
        await MeasureAsync(() => SessionGetAsync(session, url), 50);
        await MeasureAsync(() => OneShotGetAsync(url, options), 50);
        for (var round = 0; round < rounds; round++)
        {
            results["session"].Add(await MeasureAsync(() => SessionGetAsync(session, url), requests));
            results["one-shot"].Add(await MeasureAsync(() => OneShotGetAsync(url, options), requests));
        }

        foreach (var (mode, runs) in results)
        {
            var line = new Dictionary<string, object?>
            {
                ["mode"] = mode,
                ["url"] = url,
                ["requests"] = requests,
                ["rounds"] = rounds,
                ["us_per_call"] = Math.Round(Median(runs.Select(r => r.Wall)), 1),
                ["cpu_us_per_call"] = Math.Round(Median(runs.Select(r => r.Cpu)), 1),
                ["bytes_per_call"] = Math.Round(Median(runs.Select(r => r.Alloc))),
                ["connections"] = mode == "session" ? session.Connector.Stats.ConnectionsOpened : (50 + (long)requests * rounds),
            };
            Console.WriteLine(JsonSerializer.Serialize(line));
        }

        return 0;
    }

    private static async Task SessionGetAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        response.EnsureSuccessStatusCode();
        await response.ReadAsBytesAsync();
    }

    private static async Task OneShotGetAsync(string url, ClientSessionOptions options)
    {
        await using var response = await AsyncHttpClient.GetAsync(url, sessionOptions: options);
        response.EnsureSuccessStatusCode();
        await response.ReadAsBytesAsync();
    }

    private static async Task<(double Wall, double Cpu, double Alloc)> MeasureAsync(Func<Task> call, int count)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await call().WaitAsync(TimeSpan.FromSeconds(60));
        }

        var wall = clock.Elapsed.TotalMicroseconds / count;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalMicroseconds / count;
        var alloc = (double)(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / count;
        return (wall, cpu, alloc);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string? Value(string[] args, string name)
    {
        var at = Array.IndexOf(args, "--" + name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }
}
