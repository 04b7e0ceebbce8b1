using System.Collections.Concurrent;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Reliability;

[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests;

/// <summary>Cancellation at random moments under load, and memory and connections staying flat over many requests.</summary>
[Collection(nameof(SerialTests))]
public sealed class StormAndSoakTests : IAsyncLifetime
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
            var plans = Enumerable.Range(0, 10_000).Select(_ => (Size: random.Next(1, 200_000), CancelAfterYields: random.Next(0, 12), ReadSlice: random.Next(1, 8))).ToArray();
            var cancelled = 0;
            var completed = 0;

            async Task RunAsync((int Size, int CancelAfterYields, int ReadSlice) plan)
            {
                using var cts = new CancellationTokenSource();
                var work = FetchAsync(plan.Size, plan.ReadSlice, cts.Token);

                // The cancellation lands at a random point: queued, connecting, awaiting headers or reading the body.
                for (var i = 0; i < plan.CancelAfterYields && !work.IsCompleted; i++)
                {
                    await Task.Yield();
                }

                await cts.CancelAsync();
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

            async Task FetchAsync(int size, int slices, CancellationToken token)
            {
                await using var response = await session.GetAsync(_server.Url($"big?size={size}"), cancellationToken: token);
                var stream = await response.ReadAsStreamAsync(token);
                var buffer = new byte[Math.Max(1, size / slices)];
                for (var i = 0; i < 10_000 && await stream.ReadAsync(buffer, token) > 0; i++)
                {
                    await Task.Yield();
                }
            }

            // Far more requests at once than the limit: most of them queue.
            await Task.WhenAll(plans.Select(p => Task.Run(() => RunAsync(p)))).WaitAsync(TimeSpan.FromMinutes(3));

            Assert.Equal(10_000, cancelled + completed);
            Assert.True(cancelled > 1000, $"only {cancelled} of 10,000 were cancelled; the storm did not storm");
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
