using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Extensions.Tests;

/// <summary>Issue 3, point 2: the registry singleton, one instance per name, keyed services.</summary>
public sealed class SessionRegistryTests
{
    [Fact]
    public async Task Constructor_ServiceTakingISessionRegistry_GetsTheSingleton()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientSession("bulk");
        builder.Services.AddTransient<Crawler>();
        using var host = builder.Build();
        await host.StartAsync();

        var first = host.Services.GetRequiredService<Crawler>();
        var second = host.Services.GetRequiredService<Crawler>();

        Assert.NotSame(first, second);
        Assert.Same(host.Services.GetRequiredService<ISessionRegistry>(), first.Sessions);
        Assert.Same(first.Sessions, second.Sessions);
        await host.StopAsync();
    }

    [Fact]
    public async Task GetSession_CalledRepeatedlyAndConcurrently_ReturnsOneInstanceCreatedOnce()
    {
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Services.AddClientSession("bulk");
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Id == 2001);

        var sessions = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => registry.GetSession("bulk"))));

        Assert.All(sessions, s => Assert.Same(sessions[0], s));
        Assert.Same(sessions[0], registry.GetSession("bulk"));
        Assert.Equal("bulk", sessions[0].Name);
        // Logged under the session's own category, as docs/observability.md says.
        Assert.Single(logs.Entries, e => e.EventId.Id == 2001 && e.Category == "AsyncHttp.ClientSession.bulk");
        await host.StopAsync();
    }

    [Fact]
    public async Task GetSession_WhileAnotherSessionIsBeingBuilt_NeitherWaitsForItNorBlocksReloadsOrTheStop()
    {
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Configuration["AsyncHttp:Sessions:fast:Limit"] = "3";
        using var building = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        builder.Services.AddClientSession("slow").AddMiddleware(_ =>
        {
            // The user's middleware factory, called while the session is built: it takes its time.
            building.Set();
            release.Wait(TimeSpan.FromMinutes(1));
            return new PassThroughHandler();
        });
        builder.Services.AddClientSession("fast").BindConfiguration("AsyncHttp:Sessions:fast");
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();

        var slow = Task.Run(() => registry.GetSession("slow"));
        Assert.True(building.Wait(TimeSpan.FromMinutes(1)));

        // Meanwhile: another session is created, and a reload reaches it, while "slow" is still being built.
        var fast = registry.GetSession("fast");
        builder.Configuration["AsyncHttp:Sessions:fast:Limit"] = "7";
        ((IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>()).Reload();
        Assert.Equal(7, fast.Connector.Stats.Limit);
        Assert.False(slow.IsCompleted);

        release.Set();
        Assert.Same(await slow, registry.GetSession("slow"));
        await host.StopAsync();
    }

    private sealed class PassThroughHandler : DelegatingHandler;

    [Fact]
    public async Task GetSession_UnknownName_ThrowsListingTheKnownNames()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientSession("priority");
        builder.Services.AddClientSession("bulk");
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();

        var error = Assert.Throws<KeyNotFoundException>(() => registry.GetSession("bluk"));

        Assert.Contains("'bluk'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'priority', 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.False(registry.TryGetSession("bluk", out var none));
        Assert.Null(none);
        Assert.True(registry.TryGetSession("bulk", out var bulk));
        Assert.Same(registry.GetSession("bulk"), bulk);
        await host.StopAsync();
    }

    [Fact]
    public async Task KeyedService_FromKeyedServicesParameter_IsTheRegistrySession()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientSession("priority", o => o.Limit = 0);
        builder.Services.AddClientSession("bulk");
        builder.Services.AddSingleton<PriorityClient>();
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();

        var client = host.Services.GetRequiredService<PriorityClient>();

        Assert.Same(registry.GetSession("priority"), client.Session);
        Assert.Same(registry.GetSession("bulk"), host.Services.GetRequiredKeyedService<ClientSession>("bulk"));
        Assert.Equal("ok", await client.FetchAsync(upstream.Url("ok")));
        await host.StopAsync();
    }

    [Fact]
    public async Task GetSession_TimeProviderRegistered_SessionTimesOutOnIt()
    {
        await using var upstream = await Upstream.StartAsync();
        var time = new FakeTimeProvider();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddClientSession("bulk", o => o.Timeout = new ClientTimeout { Total = TimeSpan.FromSeconds(5) });
        using var host = builder.Build();
        await host.StartAsync();
        var session = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        var hold = upstream.Hold("timeout");

        var request = session.GetAsync(upstream.Url("hold/timeout").ToString());
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);
        time.Advance(TimeSpan.FromSeconds(6));

        await Assert.ThrowsAsync<TotalTimeoutException>(() => request.WaitAsync(Upstream.Patience));
        await host.StopAsync();
    }

    private sealed class Crawler(ISessionRegistry sessions)
    {
        public ISessionRegistry Sessions { get; } = sessions;
    }

    private sealed class PriorityClient([FromKeyedServices("priority")] ClientSession session)
    {
        public ClientSession Session { get; } = session;

        public async Task<string> FetchAsync(Uri url)
        {
            await using var response = await Session.GetAsync(url);
            return await response.ReadAsStringAsync();
        }
    }
}
