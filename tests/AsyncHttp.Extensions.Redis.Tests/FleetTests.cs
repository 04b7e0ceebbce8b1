using System.Globalization;
using AsyncHttp.Extensions.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AsyncHttp.Extensions.Redis.Tests;

/// <summary>
/// Three OS processes (the worker: a Generic Host each, its own Redis connection) share one limit toward one Kestrel
/// upstream that counts what it sees. CI checks bounds (never more than the limit; never more than burst + rate·W in a
/// window W); the rates reached are measurements, printed here (run with <c>--logger "console;verbosity=detailed"</c>;
/// <c>ASYNCHTTP_FLEET_SECONDS</c> makes the rate run longer) and reported in docs/scale-out.md.
/// </summary>
public sealed class FleetTests(RedisServer redis, ITestOutputHelper output) : IClassFixture<RedisServer>, IAsyncLifetime
{
    private static readonly TimeSpan RunPatience = TimeSpan.FromSeconds(90 + Seconds(0));
    private CountingUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await CountingUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task ThreeProcesses_ConcurrencyLimit10_TheUpstreamNeverSeesMoreAndSees10MostOfTheRun()
    {
        // 10 permits of 100 ms: the fleet can do 100 requests a second; 1.5 s of them by default.
        var perWorker = (int)Math.Ceiling(100 * Seconds(1.5) / 3);
        await using var fleet = await StartFleetAsync("concurrency", "--Fleet:Permits=10", "--Fleet:Loops=8", $"--Fleet:Requests={perWorker}", "--Fleet:Path=work?ms=100");

        var done = await fleet.WhenDoneAsync();

        var arrivals = _upstream.Arrivals;
        var run = arrivals[^1].At - arrivals[0].At;
        var atLimit = _upstream.TimeAt(10);
        output.WriteLine($"{arrivals.Count} requests of 100 ms by 3 processes x 8 loops on 10 permits: max in flight {_upstream.MaxInFlight}; at 10 for {atLimit.TotalSeconds:F2} s of {run.TotalSeconds:F2} s ({atLimit / run:P0}); {arrivals.Count / run.TotalSeconds:F1} requests/s.");
        output.WriteLine(string.Join('\n', done));
        Assert.Equal(perWorker * 3, arrivals.Count);
        Assert.Equal(10, _upstream.MaxInFlight);
        Assert.True(atLimit / run >= 0.5, $"at 10 for {atLimit / run:P0} of the run");
        Assert.All(done, line => Assert.EndsWith("failed=0 inUse=0 waiting=0", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThreeProcesses_RateLimit50PerSecond_NeverMoreThanBurstPlusRateTimesTheWindow()
    {
        const int Burst = 10;
        const double Rate = 50;
        var perWorker = (int)Math.Ceiling(((Rate * Seconds(3)) + Burst) / 3);
        await using var fleet = await StartFleetAsync(
            "rate",
            "--Fleet:Mode=rate",
            $"--Fleet:PermitsPerSecond={Rate}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Rate:Burst={Burst}",
            "--Fleet:Loops=4",
            $"--Fleet:Requests={perWorker}",
            "--Fleet:Path=work?ms=1");

        var done = await fleet.WhenDoneAsync();

        // The bound is the limiter's, on Redis's clock: the grants of all three processes, as Redis timed them.
        var granted = fleet.Workers.SelectMany(w => w.Grants).Order().ToList();
        Assert.Equal(perWorker * 3, granted.Count);
        for (var i = 0; i < granted.Count; i++)
        {
            for (var j = i + 1; j < granted.Count; j++)
            {
                var window = (granted[j] - granted[i]) / 1000;
                Assert.True(j - i + 1 <= Burst + (Rate * window) + 1e-6, $"{j - i + 1} grants within {window * 1000:F1} ms of Redis's clock");
            }
        }

        // The server sees each request a scheduling delay after its grant, which can bunch arrivals on a loaded machine:
        // its count gets a second of that delay as allowance in CI (a limiter that did not hold would exceed it many
        // times over), and the fullest window is reported.
        var at = _upstream.Arrivals.Select(a => a.At).Order().ToList();
        Assert.Equal(perWorker * 3, at.Count);
        var worst = (Ratio: 0.0, Count: 0, Window: 0.0, From: 0.0);
        for (var i = 0; i < at.Count; i++)
        {
            for (var j = i + 1; j < at.Count; j++)
            {
                var window = (at[j] - at[i]).TotalSeconds;
                var ratio = (j - i + 1) / (Burst + (Rate * window));
                worst = ratio > worst.Ratio ? (ratio, j - i + 1, window, (at[i] - at[0]).TotalSeconds) : worst;
                Assert.True(j - i + 1 <= Burst + (Rate * (window + 1)), $"{j - i + 1} requests within {window * 1000:F0} ms at the server");
            }
        }

        var span = (at[^1] - at[0]).TotalSeconds;
        var grantSpan = (granted[^1] - granted[0]) / 1000;
        output.WriteLine($"{at.Count} requests by 3 processes x 4 loops at {Rate}/s, burst {Burst}: granted at {(granted.Count - Burst) / grantSpan:F1}/s after the burst over {grantSpan:F2} s of Redis's clock; the server saw {(at.Count - Burst) / span:F1}/s over {span:F2} s, and its fullest window held {worst.Ratio:P0} of burst + rate x W ({worst.Count} within {worst.Window * 1000:F0} ms, {worst.From:F2} s after the first).");
        var seconds = at.Select(a => a.TotalSeconds).ToList();
        var redisSeconds = granted.Select(g => g / 1000).ToList();
        output.WriteLine($"The most in any 1 s and 10 s (burst + rate x W: {Burst + Rate} and {Burst + (Rate * 10)}): at the server {MostWithin(seconds, 1)} and {MostWithin(seconds, 10)}; granted on Redis's clock {MostWithin(redisSeconds, 1)} and {MostWithin(redisSeconds, 10)}.");
        output.WriteLine(string.Join('\n', done));
        Assert.All(done, line => Assert.EndsWith("failed=0 inUse=0 waiting=0", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThreeProcesses_OneKilledWhileHoldingPermits_TheOthersGetThemBackWithinTheExpiry()
    {
        var expiry = TimeSpan.FromSeconds(2);
        await using var fleet = await StartFleetAsync(
            "killed",
            "--Fleet:Permits=10",
            "--Fleet:Loops=6",
            "--Fleet:Requests=40",
            "--Fleet:Path=hold",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Concurrency:PermitExpiry={expiry}");
        await _upstream.WhenInFlight(10);

        // The process holding the most permits dies with them: its connections close, its permits stay in Redis.
        var holder = _upstream.Arrivals.GroupBy(a => a.Worker).OrderByDescending(g => g.Count()).First().Key;
        var victim = fleet.Workers.Single(w => w.Name == holder);
        var held = _upstream.Arrivals.Count(a => a.Worker == holder);
        await victim.KillAsync();
        var killedAt = _upstream.Now;
        await _upstream.WhenInFlightAtMost(10 - held);

        await _upstream.WhenInFlight(10);
        var recovered = _upstream.Now - killedAt;
        output.WriteLine($"killed {holder} holding {held} of 10 permits (PermitExpiry {expiry.TotalSeconds} s): the others had all 10 again after {recovered.TotalSeconds:F2} s; max in flight {_upstream.MaxInFlight}.");
        Assert.InRange(recovered, TimeSpan.Zero, expiry + TimeSpan.FromSeconds(4));
        Assert.Equal(10, _upstream.MaxInFlight);

        _upstream.Open();
        var done = await Task.WhenAll(fleet.Workers.Where(w => w != victim).Select(w => w.WhenDoneAsync(RunPatience)));
        Assert.All(done, line => Assert.EndsWith("failed=0 inUse=0 waiting=0", line, StringComparison.Ordinal));
        Assert.Equal(10, _upstream.MaxInFlight);
    }

    [Fact]
    public async Task ThreeProcesses_OneGets429WithRetryAfter2_EveryProcessPausesThatHost()
    {
        _upstream.RetryAfterSeconds = 2;
        await using var fleet = await StartFleetAsync(
            "paused",
            "--Fleet:Permits=10",
            "--Fleet:Loops=1",
            "--Fleet:Requests=20",
            "--Fleet:Path=limited?ms=20",
            "--AsyncHttp:Sessions:fleet:RetryAfter=true");

        var done = await fleet.WhenDoneAsync();

        // Every process's requests stop for about the pause: the largest gap between two of its arrivals.
        var arrivals = _upstream.Arrivals;
        var gaps = arrivals.GroupBy(a => a.Worker).ToDictionary(
            g => g.Key,
            g => g.Select(a => a.At).Order().Zip(g.Select(a => a.At).Order().Skip(1), (a, b) => b - a).DefaultIfEmpty().Max());
        output.WriteLine($"429 with Retry-After: 2 to one of 3 processes: the longest pause of each: {string.Join(", ", gaps.Select(g => $"{g.Key} {g.Value.TotalSeconds:F2} s"))}.");
        output.WriteLine(string.Join('\n', done));
        Assert.Equal(3, gaps.Count);
        Assert.All(gaps.Values, gap => Assert.InRange(gap, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10)));
        Assert.Equal(60, arrivals.Count);
    }

    /// <summary>The most of <paramref name="times"/> (sorted, in seconds) within any <paramref name="window"/> seconds from one of them.</summary>
    private static int MostWithin(List<double> times, double window)
        => times.Select((t, i) => (End: times.BinarySearch(i, times.Count - i, t + window, null), Start: i)).Max(w => (w.End >= 0 ? w.End : ~w.End) - w.Start);

    /// <summary>How long a measured run lasts: <paramref name="ci"/> seconds, or <c>ASYNCHTTP_FLEET_SECONDS</c> for the docs' long runs.</summary>
    private static double Seconds(double ci)
        => double.TryParse(Environment.GetEnvironmentVariable("ASYNCHTTP_FLEET_SECONDS"), CultureInfo.InvariantCulture, out var seconds) ? seconds : ci;

    private async Task<Fleet> StartFleetAsync(string name, params string[] arguments)
    {
        string[] common =
        [
            $"--AsyncHttp:Sessions:fleet:BaseAddress={_upstream.BaseAddress}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Concurrency:Configuration={redis.Configuration}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Rate:Configuration={redis.Configuration}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Concurrency:Name={name}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Rate:Name={name}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Concurrency:OperationTimeout={RedisServer.OperationTimeout}",
            $"--AsyncHttp:Sessions:fleet:RateLimits:Rate:OperationTimeout={RedisServer.OperationTimeout}",
        ];
        var fleet = new Fleet([.. Enumerable.Range(1, 3).Select(i => WorkerProcess.Start($"w{i}", [.. common, .. arguments]))]);
        try
        {
            await Task.WhenAll(fleet.Workers.Select(w => w.WhenReady()));
            await Task.WhenAll(fleet.Workers.Select(w => w.GoAsync()));
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    private sealed class Fleet(IReadOnlyList<WorkerProcess> workers) : IAsyncDisposable
    {
        public IReadOnlyList<WorkerProcess> Workers { get; } = workers;

        public Task<string[]> WhenDoneAsync() => Task.WhenAll(Workers.Select(w => w.WhenDoneAsync(RunPatience)));

        public async ValueTask DisposeAsync()
        {
            foreach (var worker in Workers)
            {
                await worker.DisposeAsync();
            }
        }
    }
}
