using AsyncHttp.Extensions.Internal;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsyncHttp.Extensions.Tests;

/// <summary>Issue 3, point 5: a graceful close when the host stops, and disposal with the host.</summary>
public sealed class HostShutdownTests
{
    private const int ClosingSessions = 2005;

    [Fact]
    public async Task StopAsync_RequestInFlight_LetsItFinishThenClosesEveryConnection()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        using var host = await StartHostAsync(upstream, logs);
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var bulk = registry.GetSession("bulk");
        var idle = registry.GetSession("idle");
        await (await idle.GetAsync("ok")).DisposeAsync(); // leaves a kept-alive connection
        var hold = upstream.Hold("slow");
        var inFlight = bulk.GetAsync("hold/slow");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);

        var stopping = host.StopAsync();
        await logs.WaitForEventAsync(ClosingSessions);

        // Closed to new work, but the host waits for the request in flight.
        Assert.True(bulk.IsClosed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bulk.GetAsync("ok"));
        Assert.False(stopping.IsCompleted);
        hold.Release.SetResult();
        await using (var response = await inFlight.WaitAsync(Upstream.Patience))
        {
            Assert.Equal("released slow", await response.ReadAsStringAsync());
        }

        await stopping.WaitAsync(Upstream.Patience);
        Assert.All(registry.Names, name => Assert.True(registry.GetSession(name).IsClosed));
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        Assert.Equal(0, upstream.OpenConnections);
        Assert.True(upstream.ConnectionsOpened >= 2);
    }

    [Fact]
    public async Task StopAsync_ShutdownTimeoutEnds_AbortsTheRequestStillInFlight()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        using var host = await StartHostAsync(upstream, logs);
        var bulk = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        var hold = upstream.Hold("stuck");
        var inFlight = bulk.GetAsync("hold/stuck");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);
        using var shutdownTimeout = new CancellationTokenSource();

        // The token given to StopAsync ends the host's shutdown timeout early, as the timeout itself would.
        var stopping = host.StopAsync(shutdownTimeout.Token);
        await logs.WaitForEventAsync(ClosingSessions);
        shutdownTimeout.Cancel();

        await stopping.WaitAsync(Upstream.Patience);
        var error = await Record.ExceptionAsync(() => inFlight.WaitAsync(Upstream.Patience));
        Assert.True(error is HttpRequestException or OperationCanceledException, $"Unexpected: {error}");
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        Assert.Equal(0, upstream.OpenConnections);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StopAsync_BackgroundServiceStopping_CanStillMakeRequests(bool workerRegisteredFirst)
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        if (workerRegisteredFirst)
        {
            builder.Services.AddHostedService<GoodbyeWorker>();
        }

        builder.Services.AddClientSession("bulk", o => o.BaseAddress = upstream.BaseAddress);
        if (!workerRegisteredFirst)
        {
            builder.Services.AddHostedService<GoodbyeWorker>();
        }

        using var host = builder.Build();
        await host.StartAsync();

        await host.StopAsync();

        var worker = host.Services.GetServices<IHostedService>().OfType<GoodbyeWorker>().Single();
        Assert.Null(worker.Error);
        Assert.Equal("ok", worker.Result);
        Assert.True(host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk").IsClosed);
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
    }

    [Fact]
    public async Task Dispose_HostDisposedSynchronouslyWithoutStop_ClosesSessionsAndConnections()
    {
        await using var upstream = await Upstream.StartAsync();
        var host = await StartHostAsync(upstream, new LogCapture());
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var bulk = registry.GetSession("bulk");
        await (await bulk.GetAsync("ok")).DisposeAsync();

        host.Dispose();
        host.Dispose();

        Assert.True(bulk.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => registry.GetSession("bulk"));
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        Assert.Equal(0, upstream.OpenConnections);
    }

    [Fact]
    public async Task DisposeAsync_HostDisposedTwice_IsHarmless()
    {
        await using var upstream = await Upstream.StartAsync();
        var host = await StartHostAsync(upstream, new LogCapture());
        var bulk = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        await (await bulk.GetAsync("ok")).DisposeAsync();
        await host.StopAsync();

        await ((IAsyncDisposable)host).DisposeAsync();
        await ((IAsyncDisposable)host).DisposeAsync();

        Assert.True(bulk.IsClosed);
    }

    [Fact]
    public void Dispose_ServiceProviderDisposedSynchronously_DoesNotThrowAndClosesSessions()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddClientSession("bulk");
        var provider = services.BuildServiceProvider();
        var keyed = provider.GetRequiredKeyedService<ClientSession>("bulk");
        var registry = provider.GetRequiredService<SessionRegistry>();

        provider.Dispose();
        registry.Dispose();

        Assert.True(keyed.IsClosed);
    }

    [Fact]
    public async Task DisposeAsync_DuringAGracefulClose_AbortsAtOnce()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        using var host = await StartHostAsync(upstream, logs);
        var registry = host.Services.GetRequiredService<SessionRegistry>();
        var hold = upstream.Hold("stuck");
        var inFlight = registry.GetSession("bulk").GetAsync("hold/stuck");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);
        var stopping = host.StopAsync();
        await logs.WaitForEventAsync(ClosingSessions);

        await registry.DisposeAsync().AsTask().WaitAsync(Upstream.Patience);
        await registry.DisposeAsync();
        registry.Dispose();

        await stopping.WaitAsync(Upstream.Patience);
        await Assert.ThrowsAnyAsync<Exception>(() => inFlight.WaitAsync(Upstream.Patience));
        Assert.False(hold.Release.Task.IsCompleted);
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
    }

    private static async Task<IHost> StartHostAsync(Upstream upstream, LogCapture logs)
    {
        var builder = TestHosts.CreateBuilder(logs);
        builder.Services.ConfigureClientSessionDefaults(o => o.BaseAddress = upstream.BaseAddress);
        builder.Services.AddClientSession("bulk");
        builder.Services.AddClientSession("idle");
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>An application's worker that makes one last request while it stops.</summary>
    private sealed class GoodbyeWorker(ISessionRegistry sessions) : BackgroundService
    {
        public string? Result { get; private set; }

        public Exception? Error { get; private set; }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            try
            {
                await using var response = await sessions.GetSession("bulk").GetAsync("ok", cancellationToken: cancellationToken);
                Result = await response.ReadAsStringAsync(cancellationToken);
            }
            catch (Exception ex)
            {
                Error = ex;
            }
        }

        protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;
    }
}
