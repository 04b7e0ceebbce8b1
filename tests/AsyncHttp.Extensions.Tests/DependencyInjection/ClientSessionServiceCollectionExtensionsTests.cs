using AsyncHttp.Extensions.Internal;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Tests.DependencyInjection;

/// <summary>Issue 3, point 1: the registration API, with a real host and a real Kestrel upstream.</summary>
public sealed class ClientSessionServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddClientSession_WithConfigureLambda_ReturnsBuilderAndConfiguresTheSession()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());

        IClientSessionBuilder registration = builder.Services.AddClientSession("priority", o => o.Limit = 0);

        Assert.Equal("priority", registration.Name);
        Assert.Same(builder.Services, registration.Services);
        using var host = builder.Build();
        await host.StartAsync();
        var priority = host.Services.GetRequiredService<ISessionRegistry>().GetSession("priority");
        Assert.Equal(0, priority.Connector.Stats.Limit);
        await using (var response = await priority.GetAsync(upstream.Url("ok").ToString()))
        {
            Assert.Equal("ok", await response.ReadAsStringAsync());
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task BindConfiguration_SectionPath_BindsTheSessionFromAppConfiguration()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Sessions:bulk:BaseAddress"] = upstream.BaseAddress.ToString(),
            ["AsyncHttp:Sessions:bulk:Limit"] = "4",
            ["AsyncHttp:Sessions:bulk:Headers:X-Tenant"] = "tenant-a",
        });

        builder.Services.AddClientSession("bulk").BindConfiguration("AsyncHttp:Sessions:bulk");

        using var host = builder.Build();
        await host.StartAsync();
        var bulk = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        Assert.Equal(4, bulk.Connector.Stats.Limit);
        Assert.Equal("tenant-a", await GetStringAsync(bulk, "echo/X-Tenant"));
        await host.StopAsync();
    }

    [Fact]
    public async Task ConfigureClientSessionDefaults_CalledAfterTheSessions_AppliesToEverySessionBeforeItsOwnSettings()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientSession("own", o => o.Headers["X-Who"] = "own");
        builder.Services.AddClientSession("plain");

        builder.Services.ConfigureClientSessionDefaults(o =>
        {
            o.BaseAddress = upstream.BaseAddress;
            o.QueueLimit = 7;
            o.Headers["X-Who"] = "default";
        });

        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        Assert.Equal("own", await GetStringAsync(registry.GetSession("own"), "echo/X-Who"));
        Assert.Equal("default", await GetStringAsync(registry.GetSession("plain"), "echo/X-Who"));
        Assert.Equal(7, registry.GetSession("own").Connector.Stats.QueueLimit);
        Assert.Equal(7, registry.GetSession("plain").Connector.Stats.QueueLimit);
        await host.StopAsync();
    }

    [Fact]
    public void ConfigureClientSessionDefaults_ConfigurationSection_MergesHeadersWithEachSession()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Defaults:Headers:User-Agent"] = "my-app/1.0",
            ["AsyncHttp:Defaults:Headers:X-Env"] = "default",
            ["AsyncHttp:Sessions:bulk:Headers:X-Env"] = "bulk",
        });

        builder.Services.ConfigureClientSessionDefaults(builder.Configuration.GetSection("AsyncHttp:Defaults"));
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));

        using var host = builder.Build();
        var headers = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>().Get("bulk").Headers;
        Assert.Equal("my-app/1.0", headers["User-Agent"]);
        Assert.Equal("bulk", headers["X-Env"]);
    }

    [Fact]
    public async Task AddClientSessions_ConfigurationSection_RegistersOneSessionPerChild()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Sessions:alpha:Limit"] = "3",
            ["AsyncHttp:Sessions:beta:Limit"] = "5",
            ["AsyncHttp:Sessions:beta:QueueLimit"] = "50",
        });

        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));

        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        Assert.Equal(["alpha", "beta"], registry.Names.Order());
        Assert.Equal(3, registry.GetSession("alpha").Connector.Stats.Limit);
        Assert.Equal(5, registry.GetSession("beta").Connector.Stats.Limit);
        Assert.Equal(50, registry.GetSession("beta").Connector.Stats.QueueLimit);
        await host.StopAsync();
    }

    [Fact]
    public async Task AddClientSession_SameNameTwice_ConfiguresOneSession()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());

        builder.Services.AddClientSession("bulk", o => o.Limit = 3);
        builder.Services.AddClientSession("bulk", o => o.QueueLimit = 9);

        Assert.Single(builder.Services, d => d.IsKeyedService && d.ServiceType == typeof(ClientSession) && Equals(d.ServiceKey, KeyedService.AnyKey));
        Assert.Single(builder.Services, d => !d.IsKeyedService && d.ImplementationType == typeof(ClientSessionLifetime));
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        Assert.Equal(["bulk"], registry.Names);
        var stats = registry.GetSession("bulk").Connector.Stats;
        Assert.Equal(3, stats.Limit);
        Assert.Equal(9, stats.QueueLimit);
        await host.StopAsync();
    }

    [Fact]
    public void BuilderMethods_Chained_ApplyInCallOrder()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bulk:Limit"] = "5",
            ["Bulk:LimitPerHost"] = "5",
        });

        builder.Services.AddClientSession("bulk", o => o.Limit = 1)
            .BindConfiguration("Bulk")
            .ConfigureOptions(o => o.LimitPerHost = 2)
            .ConfigureHeaders(h => h["X-Api"] = "v2")
            .ConfigureTimeout(t => t.SockRead = TimeSpan.FromSeconds(3));

        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>().Get("bulk");
        Assert.Equal(5, options.Limit);
        Assert.Equal(2, options.LimitPerHost);
        Assert.Equal("v2", options.Headers["X-Api"]);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Timeout.SockRead);
    }

    [Fact]
    public void AddClientSession_BlankName_Throws()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentException>(() => services.AddClientSession(" "));
        Assert.Throws<ArgumentNullException>(() => services.AddClientSession(null!));
    }

    private static async Task<string> GetStringAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }
}
