using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Testing.Tests.DependencyInjection;

/// <summary><c>UseTestUpstream</c> in a real Generic Host: the app's own registration stays, only the socket layer changes.</summary>
public sealed class TestUpstreamClientSessionBuilderExtensionsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task UseTestUpstream_RegisteredSession_SendsToTheUpstreamOnTheHostsClock()
    {
        var time = new FakeTimeProvider();
        var upstream = new TestUpstream();
        upstream.Map(HttpMethod.Get, "/items/1").Respond(TestResponse.Text("one") with { HeadersDelay = TimeSpan.FromSeconds(5) });
        var builder = CreateBuilder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddClientSession("bulk", o => o.BaseAddress = new Uri("http://catalog.test/")).UseTestUpstream(upstream);
        using var host = builder.Build();
        await host.StartAsync();
        var session = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");

        var pending = session.GetAsync("items/1");
        await upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));

        await using (var response = await pending.WaitAsync(Patience))
        {
            Assert.Equal("one", await response.ReadAsStringAsync());
        }

        Assert.Equal("bulk", Assert.Single(upstream.Requests).SessionName);
        await host.StopAsync();
    }

    [Fact]
    public async Task UseTestUpstream_RegisteredConnector_ServesTheSessionsOnItWhichCannotSetTheirOwn()
    {
        var upstream = new TestUpstream();
        upstream.Map(HttpMethod.Get, "/items").Respond(TestResponse.Text("items"));
        var builder = CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Connectors:upstream:Limit"] = "2",
            ["AsyncHttp:Sessions:catalog:Connector"] = "upstream",
            ["AsyncHttp:Sessions:catalog:BaseAddress"] = "http://catalog.test/",
            ["AsyncHttp:Sessions:search:Connector"] = "upstream",
            ["AsyncHttp:Sessions:search:BaseAddress"] = "http://search.test/",
        });
        builder.Services.AddClientConnectors(builder.Configuration.GetSection("AsyncHttp:Connectors"));
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        builder.Services.AddClientConnector("upstream").UseTestUpstream(upstream);
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();

        foreach (var name in new[] { "catalog", "search" })
        {
            await using var response = await registry.GetSession(name).GetAsync("items");
            Assert.Equal("items", await response.ReadAsStringAsync());
        }

        Assert.Equal(["catalog", "search"], upstream.Requests.Select(r => r.SessionName));
        Assert.Equal(2, registry.GetSession("search").Connector.Stats.Limit);
        await host.StopAsync();

        // On the session instead, the fake is a connection setting of a shared connector: the host does not start.
        var wrong = CreateBuilder();
        wrong.Services.AddClientConnector("upstream");
        wrong.Services.AddClientSession("catalog", o => o.Connector = "upstream").UseTestUpstream(upstream);
        using var refused = wrong.Build();
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => refused.StartAsync());
        Assert.Contains("Session 'catalog': TransportFactory shapes connections", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseTestUpstream_AfterTheAppsConfiguration_KeepsTheAppsSettings()
    {
        var upstream = new TestUpstream();
        var builder = CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Sessions:catalog:BaseAddress"] = "http://catalog.test/v1/",
            ["AsyncHttp:Sessions:catalog:Limit"] = "3",
            ["AsyncHttp:Sessions:catalog:Headers:User-Agent"] = "app/2.0",
        });

        // The app's registration, then the test's: as ConfigureTestServices runs after the app's services.
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        builder.Services.AddClientSession("catalog").UseTestUpstream(upstream);
        using var host = builder.Build();
        await host.StartAsync();
        var session = host.Services.GetRequiredKeyedService<ClientSession>("catalog");

        await using (var response = await session.GetAsync("items"))
        {
            Assert.Equal(404, response.Status);
        }

        Assert.Equal(3, session.Connector.Stats.Limit);
        var request = Assert.Single(upstream.Requests);
        Assert.Equal("http://catalog.test/v1/items", request.Url.AbsoluteUri);
        Assert.Equal("app/2.0", request.Headers["User-Agent"]);
        await host.StopAsync();
    }

    [Fact]
    public async Task UseTestUpstream_InTheDefaults_ServesEverySession()
    {
        var upstream = new TestUpstream();
        upstream.Map(_ => true).Respond(r => TestResponse.Text(r.SessionName));
        var builder = CreateBuilder();
        builder.Services.AddClientSession("priority", o => o.Limit = 0);
        builder.Services.AddClientSession("bulk");
        builder.Services.ConfigureClientSessionDefaults(o => o.UseTestUpstream(upstream));
        using var host = builder.Build();
        await host.StartAsync();
        var sessions = host.Services.GetRequiredService<ISessionRegistry>();

        foreach (var name in sessions.Names)
        {
            await using var response = await sessions.GetSession(name).GetAsync("http://any.test/");
            Assert.Equal(name, await response.ReadAsStringAsync());
        }

        Assert.Equal(["priority", "bulk"], upstream.Requests.Select(r => r.SessionName));
        await host.StopAsync();
    }

    [Fact]
    public void UseTestUpstream_NullArguments_Throw()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentNullException>(() => services.AddClientSession("bulk").UseTestUpstream(null!));
        Assert.Throws<ArgumentNullException>(() => ((IClientSessionBuilder)null!).UseTestUpstream(new TestUpstream()));
        Assert.Throws<ArgumentNullException>(() => new ClientSessionOptions().UseTestUpstream(null!));
    }

    private static HostApplicationBuilder CreateBuilder()
        => Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
}
