using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Tests.DependencyInjection;

/// <summary>
/// Named shared connectors in a real Generic Host: bound from <c>AsyncHttp:Connectors</c>, validated at start with
/// every error at once, reloaded (a raised limit admits the requests already waiting), names in any case, and closed
/// when the host stops, after the last session on them.
/// </summary>
public sealed class ClientConnectorServiceCollectionExtensionsTests
{
    private const int ConnectorReconfigured = 2011;
    private const int ConnectorReloadRejected = 2012;
    private const int SessionReloadFailed = 2004;

    [Fact]
    public async Task AddClientConnectors_SessionsNamingItInAnyCase_ShareOnePoolWithTheirOwnCaps()
    {
        await using var upstream = await Upstream.StartAsync();
        using var directory = new TempConfigDirectory(AppSettings(
            upstream.BaseAddress,
            connector: """{ "Limit": 3, "LimitPerHost": 3, "QueueLimit": 50, "KeepAliveTimeout": "00:00:30" }""",
            bulk: """{ "Connector": "upstream", "Limit": 2, "QueueLimit": 40 }""",
            priority: """{ "Connector": "UPSTREAM", "Priority": 10 }"""));
        using var host = Build(directory);
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var bulk = registry.GetSession("bulk");
        var priority = host.Services.GetRequiredKeyedService<ClientSession>("priority");

        Assert.Same(bulk.Connector, priority.Connector);
        var connector = bulk.Connector;
        Assert.Equal(("Upstream", 3, 3, 50), (connector.Name, connector.Stats.Limit, connector.Stats.LimitPerHost, connector.Stats.QueueLimit));
        Assert.Equal((2, 0, 40, 0), (bulk.Stats.Limit, bulk.Stats.LimitPerHost, bulk.Stats.QueueLimit, bulk.Stats.Priority));
        Assert.Equal((0, 10), (priority.Stats.Limit, priority.Stats.Priority));

        // bulk holds its own two; priority gets the third at once.
        var (a, b, c) = (upstream.Hold("a"), upstream.Hold("b"), upstream.Hold("c"));
        var requests = new[] { bulk.GetAsync("hold/a"), bulk.GetAsync("hold/b"), bulk.GetAsync("hold/x"), priority.GetAsync("hold/c") };
        await Task.WhenAll(a.Arrived.Task, b.Arrived.Task, c.Arrived.Task).WaitAsync(Upstream.Patience);
        Assert.Equal((2, 1, 1, 0), (bulk.Stats.InUse, bulk.Stats.Waiting, priority.Stats.InUse, priority.Stats.Waiting));

        foreach (var id in new[] { "a", "b", "c", "x" })
        {
            upstream.Hold(id).Release.TrySetResult();
        }

        foreach (var request in requests)
        {
            Assert.StartsWith("released", await ReadAsync(request), StringComparison.Ordinal);
        }

        Assert.InRange(upstream.ConnectionsOpened, 1, 3);
        await host.StopAsync();
    }

    [Fact]
    public async Task AddClientConnectors_EveryBindableSetting_IsBoundFromConfiguration()
    {
        const string Settings = """
            {
              "Limit": 9, "LimitPerHost": 3, "QueueLimit": 70, "KeepAliveTimeout": "00:00:21", "ForceClose": true,
              "DnsCacheTtl": "00:00:04", "MaxResponseHeadersLength": 12, "DangerousAcceptAnyServerCertificate": true,
              "ExpectContinueTimeout": "00:00:03", "Version": "2.0", "VersionPolicy": "RequestVersionExact",
              "Proxy": "http://user:secret@127.0.0.1:3128", "TrustEnv": true, "HappyEyeballsDelay": null
            }
            """;
        using var directory = new TempConfigDirectory($$"""{ "AsyncHttp": { "Connectors": { "upstream": {{Settings}} } } }""");
        using var host = Build(directory);
        await host.StartAsync();

        var options = host.Services.GetRequiredService<IOptionsMonitor<ConnectorOptions>>().Get("upstream");

        Assert.Equal((9, 3, 70), (options.Limit, options.LimitPerHost, options.QueueLimit));
        Assert.Equal((TimeSpan.FromSeconds(21), true, TimeSpan.FromSeconds(4)), (options.KeepAliveTimeout, options.ForceClose, options.DnsCacheTtl));
        Assert.Equal((12, true), (options.MaxResponseHeadersLength, options.DangerousAcceptAnyServerCertificate));
        Assert.Equal(TimeSpan.FromSeconds(3), options.ExpectContinueTimeout);
        Assert.Equal((System.Net.HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact), (options.Version, options.VersionPolicy));
        Assert.Equal((new Uri("http://user:secret@127.0.0.1:3128"), true, (TimeSpan?)null), (options.Proxy, options.TrustEnv, options.HappyEyeballsDelay));

        // Guards this test: a setting added to ConnectorOptions is added above, unless it is code only.
        var keys = System.Text.Json.Nodes.JsonNode.Parse(Settings)!.AsObject().Select(p => p.Key).ToHashSet();
        var bindable = typeof(ConnectorOptions).GetProperties()
            .Where(p => p.CanWrite && p.Name is not (nameof(ConnectorOptions.ServerCertificateValidationCallback) or nameof(ConnectorOptions.TransportFactory)));
        Assert.All(bindable, p => Assert.Contains(p.Name, keys));
        await host.StopAsync();
    }

    [Fact]
    public async Task Reload_ConnectorLimitRaised_AdmitsTheRequestsAlreadyWaitingAtOnce_ABadValueIsLoggedAndIgnored()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Pool:Limit"] = "1" });
        builder.Services.AddClientConnector("upstream").BindConfiguration("Pool");
        builder.Services.AddClientSession("bulk", o => (o.Connector, o.BaseAddress) = ("upstream", upstream.BaseAddress));
        builder.Services.AddClientSession("priority", o => (o.Connector, o.BaseAddress, o.Priority) = ("upstream", upstream.BaseAddress, 5));
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var (bulk, priority) = (registry.GetSession("bulk"), registry.GetSession("priority"));
        var (a, b, c) = (upstream.Hold("a"), upstream.Hold("b"), upstream.Hold("c"));
        var first = bulk.GetAsync("hold/a");
        await a.Arrived.Task.WaitAsync(Upstream.Patience);
        var queued = new[] { bulk.GetAsync("hold/b"), priority.GetAsync("hold/c") };
        Assert.Equal((1, 2), (bulk.Connector.Stats.InUse, bulk.Connector.Stats.Waiting));
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();

        configuration["Pool:Limit"] = "-1";
        configuration.Reload();
        var rejected = await logs.WaitForEventAsync(ConnectorReloadRejected, "AsyncHttp.Connector.upstream");
        Assert.Contains("Connector 'upstream': Limit must be 0", rejected.Message, StringComparison.Ordinal);
        Assert.Equal((1, 1, 2), (bulk.Connector.Stats.Limit, bulk.Connector.Stats.InUse, bulk.Connector.Stats.Waiting));

        configuration["Pool:Limit"] = "3";
        configuration.Reload();

        // From the next admission decision, which the reload itself makes: both waiters go, none released a slot.
        await Task.WhenAll(b.Arrived.Task, c.Arrived.Task).WaitAsync(Upstream.Patience);
        Assert.False(a.Release.Task.IsCompleted);
        Assert.Equal((3, 3, 0), (bulk.Connector.Stats.Limit, bulk.Connector.Stats.InUse, bulk.Connector.Stats.Waiting));
        Assert.Equal(LogLevel.Information, (await logs.WaitForEventAsync(ConnectorReconfigured, "AsyncHttp.Connector.upstream")).Level);
        foreach (var hold in new[] { a, b, c })
        {
            hold.Release.SetResult();
        }

        foreach (var request in queued.Prepend(first))
        {
            Assert.StartsWith("released", await ReadAsync(request), StringComparison.Ordinal);
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task Reload_SessionNamingAnotherConnector_IsLoggedAndTheSessionStaysOnItsOwn()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Bulk:Connector"] = "one", ["Bulk:BaseAddress"] = upstream.BaseAddress.ToString() });
        builder.Services.AddClientConnector("one");
        builder.Services.AddClientConnector("two");
        builder.Services.AddClientSession("bulk").BindConfiguration("Bulk");
        using var host = builder.Build();
        await host.StartAsync();
        var bulk = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();

        configuration["Bulk:Connector"] = "two";
        configuration.Reload();

        var failed = await logs.WaitForEventAsync(SessionReloadFailed, "AsyncHttp.ClientSession.bulk");
        Assert.Contains("connector 'one'", failed.Exception!.Message, StringComparison.Ordinal);
        Assert.Equal("one", bulk.Connector.Name);
        await using (var response = await bulk.GetAsync("ok"))
        {
            Assert.Equal("ok", await response.ReadAsStringAsync());
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task StartAsync_BadConnectorSettings_StopsTheHostNamingEverySessionAndConnectorAndKeyAtOnce()
    {
        using var directory = new TempConfigDirectory(AppSettings(
            new Uri("http://127.0.0.1:1/"),
            connector: """{ "Limit": -2, "Limt": 4 }""",
            bulk: """{ "Connector": "upstream", "KeepAliveTimeout": "00:00:05", "ForceClose": true }""",
            priority: """{ "Connector": "upstreem" }"""));
        using var host = Build(directory);

        var error = await Assert.ThrowsAsync<AggregateException>(() => host.StartAsync());

        var failures = error.InnerExceptions.OfType<OptionsValidationException>().SelectMany(e => e.Failures).ToList();
        string[] expected =
        [
            "Connector 'Upstream': Limit must be 0",
            "Connector 'Upstream': unknown configuration key 'AsyncHttp:Connectors:Upstream:Limt'",
            "Session 'bulk': KeepAliveTimeout shapes connections, which the session shares through connector 'upstream'",
            "Session 'bulk': ForceClose shapes connections",
            "Session 'priority': Connector names 'upstreem', which is not a registered connector; the registered ones are 'Upstream'",
        ];
        Assert.All(expected, e => Assert.Single(failures, f => f.StartsWith(e, StringComparison.Ordinal)));
        Assert.Equal(expected.Length, failures.Count);
    }

    [Fact]
    public async Task StopAsync_RequestInFlight_FinishesOnTheSharedConnectorWhichClosesAfterTheLastSession()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Services.AddClientConnector("upstream", o => o.Limit = 4);
        builder.Services.AddClientSession("bulk", o => (o.Connector, o.BaseAddress) = ("upstream", upstream.BaseAddress));
        builder.Services.AddClientSession("priority", o => (o.Connector, o.BaseAddress, o.Priority) = ("upstream", upstream.BaseAddress, 1));
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var (bulk, priority) = (registry.GetSession("bulk"), registry.GetSession("priority"));
        await using (var warm = await priority.GetAsync("ok"))
        {
            Assert.Equal("ok", await warm.ReadAsStringAsync());
        }

        var hold = upstream.Hold("late");
        var inFlight = bulk.GetAsync("hold/late");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);

        var stopping = host.StopAsync();

        // The sessions drain first (the host's shutdown timeout is their grace): the connector stays open for them.
        Assert.False(bulk.Connector.IsClosed);
        hold.Release.SetResult();
        Assert.Equal("released late", await ReadAsync(inFlight));
        await stopping.WaitAsync(Upstream.Patience);

        Assert.True(bulk.IsClosed && priority.IsClosed && bulk.Connector.IsClosed);
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        Assert.Equal(0, upstream.OpenConnections);
    }

    private static IHost Build(TempConfigDirectory directory)
    {
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        builder.Services.AddClientConnectors(builder.Configuration.GetSection("AsyncHttp:Connectors"));
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        return builder.Build();
    }

    private static async Task<string> ReadAsync(Task<ClientResponse> pending)
    {
        await using var response = await pending.WaitAsync(Upstream.Patience);
        return await response.ReadAsStringAsync();
    }

    private static string AppSettings(Uri upstream, string connector, string bulk, string priority)
    {
        // Each session's BaseAddress is added to its own object: the first '{' opens it.
        static string With(string session, Uri baseAddress) => "{ \"BaseAddress\": \"" + baseAddress + "\", " + session.TrimStart()[1..];
        return $$"""
            {
              "AsyncHttp": {
                "Connectors": { "Upstream": {{connector}} },
                "Sessions": { "bulk": {{With(bulk, upstream)}}, "priority": {{With(priority, upstream)}} }
              }
            }
            """;
    }
}
