using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Tests;

/// <summary>
/// Issue 13, point 12: session names are case-insensitive, like configuration keys, at every entry point: registration,
/// the registry, keyed services and reloads. A name keeps the spelling of its first registration.
/// </summary>
public sealed class SessionNameTests
{
    private const string Json = """
        {
          "AsyncHttp": {
            "Sessions": {
              "Priority": { "BaseAddress": "{upstream}", "Limit": 3, "Headers": { "X-From-Json": "json" } }
            }
          }
        }
        """;

    [Fact]
    public async Task AddClientSession_NameInAnotherCaseThanTheConfiguration_ConfiguresOneSession()
    {
        await using var upstream = await Upstream.StartAsync();
        using var directory = new TempConfigDirectory(Json.Replace("{upstream}", upstream.BaseAddress.ToString(), StringComparison.Ordinal));
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        var fromCode = builder.Services.AddClientSession("priority").ConfigureHeaders(h => h["X-From-Code"] = "code");
        builder.Services.AddClientSession("PRIORITY", o => o.QueueLimit = 7);
        builder.Services.AddSingleton<ShoutingClient>();
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();

        var session = registry.GetSession("priority");

        Assert.Equal("Priority", fromCode.Name);
        Assert.Equal(["Priority"], registry.Names);
        Assert.Equal("Priority", session.Name);
        Assert.Same(session, registry.GetSession("Priority"));
        Assert.Same(session, registry.GetSession("PRIORITY"));
        Assert.True(registry.TryGetSession("pRiOrItY", out var mixed));
        Assert.Same(session, mixed);
        Assert.Same(session, host.Services.GetRequiredKeyedService<ClientSession>("PRIORITY"));
        Assert.Same(session, host.Services.GetRequiredKeyedService<ClientSession>("priority"));
        Assert.Same(session, host.Services.GetRequiredService<ShoutingClient>().Session);
        Assert.Equal((3, 7), (session.Connector.Stats.Limit, session.Connector.Stats.QueueLimit));
        Assert.Equal("json", await GetStringAsync(session, "echo/X-From-Json"));
        Assert.Equal("code", await GetStringAsync(session, "echo/X-From-Code"));
        var options = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>().Get("Priority");
        Assert.Equal(("json", "code"), (options.Headers["X-From-Json"], options.Headers["X-From-Code"]));
        await host.StopAsync();
    }

    [Fact]
    public async Task Reload_SessionResolvedInAnotherCase_ReachesIt()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AsyncHttp:Sessions:Bulk:BaseAddress"] = upstream.BaseAddress.ToString(),
            ["AsyncHttp:Sessions:Bulk:Limit"] = "4",
        });
        builder.Services.AddClientSession("bulk").BindConfiguration("AsyncHttp:Sessions:Bulk");
        using var host = builder.Build();
        await host.StartAsync();
        var session = host.Services.GetRequiredKeyedService<ClientSession>("BULK");
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();

        configuration["AsyncHttp:Sessions:Bulk:Limit"] = "2";
        configuration.Reload();

        await logs.WaitForEventAsync(2002, "AsyncHttp.ClientSession.bulk");
        Assert.Equal(2, session.Connector.Stats.Limit);
        Assert.Same(session, host.Services.GetRequiredService<ISessionRegistry>().GetSession("Bulk"));
        await host.StopAsync();
    }

    [Fact]
    public async Task KeyedService_UnknownName_ThrowsListingTheNamesThereAre()
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientSession("bulk");
        builder.Services.AddSingleton<TypoClient>();
        using var host = builder.Build();
        await host.StartAsync();

        var error = Assert.Throws<KeyNotFoundException>(() => host.Services.GetRequiredKeyedService<ClientSession>("bluk"));
        Assert.Contains("'bluk'; the registered ones are 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.Throws<KeyNotFoundException>(() => host.Services.GetRequiredService<TypoClient>());
        Assert.Throws<KeyNotFoundException>(() => host.Services.GetKeyedService<ClientSession>(42));
        Assert.NotNull(host.Services.GetKeyedService<ClientSession>("Bulk"));
        await host.StopAsync();
    }

    private static async Task<string> GetStringAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    private sealed class TypoClient([FromKeyedServices("bluk")] ClientSession session)
    {
        public ClientSession Session { get; } = session;
    }

    private sealed class ShoutingClient([FromKeyedServices("PRIORITY")] ClientSession session)
    {
        public ClientSession Session { get; } = session;
    }
}
