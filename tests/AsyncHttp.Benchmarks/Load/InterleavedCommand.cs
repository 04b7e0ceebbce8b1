using System.Globalization;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>interleaved --url URL [--clients factory,factory-session] [--rounds 15] [--requests 20000] [--concurrency 64]
/// [--limit 100] [--transport sockets|canned]</c>: CPU time per request of several clients in one process, in
/// alternating rounds, against a server in another process (the nginx of run-load.sh). On a shared machine the load
/// comparison's separate processes run at different moments and scatter by several µs; rounds that alternate within
/// one process see the same machine, so the difference of their medians is the clients'. Prints each client's median and lowest round, and each one's median
/// difference from the first client's, and the median of its differences from the first client's round by round (each
/// round runs every client one after the other, so a moment the machine was busy counts against both).
/// <para>
/// <c>--transport canned</c> takes the network out: every client sends through the same in-process handler
/// (<see cref="CannedTransport"/>), so what is left is what each client's own code costs per request, without the
/// kernel's share, which scatters by several µs from run to run. No server is needed; <c>--url</c> is only a name.
/// </para>
/// </summary>
public static class InterleavedCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string? fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"--{name} is required.");
        }

        var canned = Arg("transport", "sockets") switch
        {
            "sockets" => false,
            "canned" => true,
            var other => throw new ArgumentException($"--transport is sockets or canned, not '{other}'."),
        };
        var url = Arg("url", canned ? "http://canned.test/small" : null);
        var names = Arg("clients", "factory,factory-session").Split(',');
        var rounds = int.Parse(Arg("rounds", "15"), CultureInfo.InvariantCulture);
        var requests = int.Parse(Arg("requests", "20000"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Arg("concurrency", "64"), CultureInfo.InvariantCulture);
        var limit = int.Parse(Arg("limit", "100"), CultureInfo.InvariantCulture);

        var clients = names.Select(n => LoadClient.Create(n, limit, 0, transport: canned ? () => new CannedTransport() : null)).ToArray();
        try
        {
            var cpu = names.Select(_ => new List<double>()).ToArray();
            var bytes = names.Select(_ => new List<double>()).ToArray();
            for (var round = -3; round < rounds; round++)
            {
                for (var c = 0; c < clients.Length; c++)
                {
                    var allocated = GC.GetTotalAllocatedBytes(precise: true);
                    var before = Environment.CpuUsage.TotalTime;
                    await RunRoundAsync(clients[c], url, requests, concurrency);
                    if (round >= 0)
                    {
                        // The first three rounds warm up: tiered JIT, connections, pools.
                        cpu[c].Add((Environment.CpuUsage.TotalTime - before).TotalMicroseconds / requests);
                        bytes[c].Add((double)(GC.GetTotalAllocatedBytes(precise: true) - allocated) / requests);
                    }
                }
            }

            var baseline = Median(cpu[0]);
            for (var c = 0; c < clients.Length; c++)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{names[c],-16} CPU µs/request: median {Median(cpu[c]):F1}, lowest {cpu[c].Min():F1}, median - {names[0]}'s {Median(cpu[c]) - baseline:+0.0;-0.0} (median of the rounds' differences {Median([.. cpu[c].Select((v, r) => v - cpu[0][r])]):+0.0;-0.0}); {Median(bytes[c]):F0} B/request"));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        return 0;
    }

    private static async Task RunRoundAsync(LoadClient client, string url, int requests, int concurrency)
    {
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < requests)
            {
                await client.GetAsync(url);
            }
        });
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(5));
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
