using System.Diagnostics;
using System.Globalization;
using System.Threading.RateLimiting;
using AsyncHttp.Benchmarks.Micro;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// <c>ratelimit [--rate 50] [--burst 10] [--period-ms 100] [--seconds 60] [--loops 8]</c>: the rate a session reaches
/// through a local <see cref="TokenBucketRateLimiter"/> in admission (<see cref="AdmissionLimiter"/>), as an in-process
/// Kestrel server on 127.0.0.1 counts the arrivals. The bucket holds <c>burst</c> tokens and gets
/// <c>rate × period</c> of them every period, on its own timer; <c>loops</c> callers send
/// <c>burst + rate × seconds</c> requests between them, as fast as admission lets them. Prints the rate after the burst
/// over the run, and the fullest window of 1 s and of 10 s against <c>burst + rate × W</c>. The bucket runs on its own
/// timer and <see cref="Environment.TickCount64"/> (no <see cref="TimeProvider"/>), which is why CI checks only its bound
/// (AdmissionLimiterTests) and the rate is measured here.
/// </summary>
public static class RateLimitCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = LoadCommand.Parse(args);
        double Number(string name, double fallback)
            => options.TryGetValue(name, out var value) ? double.Parse(value, CultureInfo.InvariantCulture) : fallback;

        var rate = Number("rate", 50);
        var burst = (int)Number("burst", 10);
        var period = TimeSpan.FromMilliseconds(Number("period-ms", 100));
        var seconds = Number("seconds", 60);
        var loops = (int)Number("loops", 8);
        var perPeriod = rate * period.TotalSeconds;
        if (perPeriod < 1 || perPeriod != Math.Floor(perPeriod))
        {
            throw new ArgumentException($"rate × period must be a whole number of tokens; it is {perPeriod}.", nameof(args));
        }

        var clock = Stopwatch.StartNew();
        var arrivals = new List<TimeSpan>();
        await using var server = await LoopbackServer.StartAsync(() =>
        {
            lock (arrivals)
            {
                arrivals.Add(clock.Elapsed);
            }
        });

        using var bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = (int)perPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = 1,
        });
        await using var session = new ClientSession(new ClientSessionOptions { Limiters = { AdmissionLimiter.Create(bucket) } });

        var remaining = burst + (int)Math.Round(rate * seconds);
        var total = remaining;
        async Task LoopAsync()
        {
            while (Interlocked.Decrement(ref remaining) >= 0)
            {
                await using var response = await session.GetAsync(server.Url);
                await response.ReadAsBytesAsync();
            }
        }

        await Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(LoopAsync)));

        List<TimeSpan> at;
        lock (arrivals)
        {
            at = [.. arrivals.Order()];
        }

        var span = (at[^1] - at[0]).TotalSeconds;
        Console.WriteLine(
            $"token bucket of {burst}, {perPeriod} every {period.TotalMilliseconds} ms ({rate}/s), {loops} callers: {at.Count} of {total} requests " +
            $"over {span:F2} s; {(at.Count - burst) / span:F2}/s after the burst ({(at.Count - burst) / span / rate:P1} of the rate), {at.Count / span:F2}/s with it.");
        foreach (var window in new[] { 1.0, 10.0 })
        {
            var (fullest, from) = Fullest(at, TimeSpan.FromSeconds(window));
            Console.WriteLine($"fullest window of {window} s: {fullest} requests, from {(from - at[0]).TotalSeconds:F2} s into the run; burst + rate × W = {burst + (rate * window)}.");
        }

        Console.WriteLine($"InUse={session.Connector.Stats.InUse} Waiting={session.Connector.Stats.Waiting}");
        return 0;
    }

    /// <summary>The most arrivals in any window of <paramref name="window"/> (half-open, starting at an arrival), and its start.</summary>
    private static (int Count, TimeSpan From) Fullest(List<TimeSpan> at, TimeSpan window)
    {
        var most = (Count: 0, From: TimeSpan.Zero);
        var end = 0;
        for (var start = 0; start < at.Count; start++)
        {
            while (end < at.Count && at[end] - at[start] < window)
            {
                end++;
            }

            most = end - start > most.Count ? (end - start, at[start]) : most;
        }

        return most;
    }
}
