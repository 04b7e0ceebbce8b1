using System.Collections.Concurrent;
using AsyncHttp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AsyncHttp.Tests.Reliability;

[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests;

/// <summary>Cancellation at random moments under load, and memory and connections staying flat over many requests.</summary>
[Collection(nameof(SerialTests))]
public sealed class StormAndSoakTests(ITestOutputHelper output) : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task CancellationStorm_TenThousandRequestsCancelledAtRandom_LeaveNothingBehind()
    {
        var unobserved = new ConcurrentQueue<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => unobserved.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await using var session = new ClientSession(new ClientSessionOptions { Limit = 16, LimitPerHost = 12 });
            var random = new Random(7);
            var plans = Enumerable.Range(0, 10_000).Select(_ => (Size: random.Next(1, 200_000), Phase: random.Next(5), Yields: random.Next(0, 40))).ToArray();
            var cancelled = 0;
            var completed = 0;

            // Each request is cancelled in one phase, at a random depth into it: 0 right away (mostly queued), 1 after
            // some scheduling turns (queued, connecting or awaiting headers), 2 at the headers, 3 during the body;
            // 4 is never cancelled.
            async Task RunAsync((int Size, int Phase, int Yields) plan)
            {
                using var cts = new CancellationTokenSource();
                var work = FetchAsync(plan, cts);
                if (plan.Phase == 0)
                {
                    await cts.CancelAsync();
                }
                else if (plan.Phase == 1)
                {
                    for (var i = 0; i < plan.Yields && !work.IsCompleted; i++)
                    {
                        await Task.Yield();
                    }

                    await cts.CancelAsync();
                }

                try
                {
                    await work;
                    Interlocked.Increment(ref completed);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                }
            }

            async Task FetchAsync((int Size, int Phase, int Yields) plan, CancellationTokenSource cts)
            {
                await using var response = await session.GetAsync(_server.Url($"big?size={plan.Size}"), cancellationToken: cts.Token);
                if (plan.Phase == 2)
                {
                    await cts.CancelAsync();
                }

                var stream = await response.ReadAsStreamAsync(cts.Token);
                var buffer = new byte[4096];
                for (var i = 0; i < 10_000 && await stream.ReadAsync(buffer, cts.Token) > 0; i++)
                {
                    if (plan.Phase == 3 && i == plan.Yields % 8)
                    {
                        await cts.CancelAsync();
                    }
                }
            }

            // Far more requests at once than the limit: most of them queue.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Task.WhenAll(plans.Select(p => Task.Run(() => RunAsync(p)))).WaitAsync(TimeSpan.FromMinutes(3));
            output.WriteLine($"storm: 10,000 requests, limit 16, {cancelled:N0} cancelled, {completed:N0} completed, {clock.Elapsed.TotalSeconds:F1} s; "
                + $"after: in use {session.Connector.Stats.InUse}, waiting {session.Connector.Stats.Waiting}, open connections {session.Connector.Stats.OpenConnections}");

            Assert.Equal(10_000, cancelled + completed);
            Assert.True(cancelled > 5000 && completed > 1000, $"{cancelled} cancelled and {completed} completed: the storm did not reach every phase");
            Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
            Assert.True(session.Connector.Stats.OpenConnections <= 16, $"{session.Connector.Stats.OpenConnections} connections open with a limit of 16");
        }
        finally
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        Assert.Empty(unobserved);
    }

    [Fact]
    public Task Soak_CiSized_MemoryAndConnectionsStayFlat() => SoakAsync(rounds: 10, requestsPerRound: 2_000);

    [LongSoakFact]
    public Task Soak_Long_MemoryAndConnectionsStayFlat() => SoakAsync(rounds: 60, requestsPerRound: 10_000);

    private async Task SoakAsync(int rounds, int requestsPerRound)
    {
        const int limit = 8;
        await using var session = new ClientSession(new ClientSessionOptions { Limit = limit });
        var samples = new List<long>();
        for (var round = 0; round < rounds; round++)
        {
            var tasks = new Task[requestsPerRound];
            for (var i = 0; i < requestsPerRound; i++)
            {
                tasks[i] = FetchAsync(session, _server.Url(i % 2 == 0 ? "ok" : "big?size=4000"));
            }

            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));
            var stats = session.Connector.Stats;
            Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
            Assert.True(stats.OpenConnections <= limit, $"round {round}: {stats.OpenConnections} open connections with a limit of {limit}");
            samples.Add(GC.GetTotalMemory(forceFullCollection: true));
        }

        // After warm-up, the heap after a full collection does not grow with the number of requests made.
        var warm = samples[1];
        var last = samples[^1];
        output.WriteLine($"soak: {rounds} rounds of {requestsPerRound:N0} requests, limit {limit}; heap after full GC per round (KiB): "
            + string.Join(", ", samples.Select(s => (s / 1024).ToString("N0", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(last - warm < 4 * 1024 * 1024, $"managed heap grew from {warm:N0} to {last:N0} bytes over {rounds * requestsPerRound:N0} requests");
    }

    private static async Task FetchAsync(ClientSession session, Uri url)
    {
        await using var response = await session.GetAsync(url);
        await response.ReadAsBytesAsync();
    }
}

/// <summary>A test that runs only when ASYNCHTTP_LONG_SOAK=1 is set: the soak too long for CI.</summary>
public sealed class LongSoakFactAttribute : FactAttribute
{
    public LongSoakFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("ASYNCHTTP_LONG_SOAK") != "1")
        {
            Skip = "The long soak runs with ASYNCHTTP_LONG_SOAK=1.";
        }
    }
}
