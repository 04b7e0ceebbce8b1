using System.Net;
using System.Text.Json;
using AsyncHttp.Extensions.Internal;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Extensions.Tests.DependencyInjection;

/// <summary>
/// The sessions' health checks in a real ASP.NET Core application, read through <c>GET /health</c>: a session driven
/// into each state (healthy, degraded by its queue's share, degraded by its oldest waiter, closed) with a gated
/// upstream and fake time, and the thresholds bound from appsettings.json.
/// </summary>
public sealed class ClientSessionHealthChecksBuilderExtensionsTests
{
    [Fact]
    public async Task Health_QueueReachesItsShareOfQueueLimit_IsDegraded_AndHealthyAgainOnceItDrains()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var app = await StartAppAsync(builder =>
        {
            builder.Services.AddClientSession("bulk", o =>
            {
                o.BaseAddress = upstream.BaseAddress;
                o.Limit = 1;
                o.QueueLimit = 4;
            });
            builder.Services.AddHealthChecks().AddClientSessionHealthChecks();
            builder.Services.Configure<ClientSessionHealthCheckOptions>("bulk", o => o.DegradedQueueRatio = 0.5);
        });
        var registry = app.Services.GetRequiredService<SessionRegistry>();

        // Registered but not used yet: healthy, with its limits, and the check does not create it.
        var unused = await GetHealthAsync(app);
        Assert.Equal((HttpStatusCode.OK, "Healthy"), (unused.Code, unused.Status("bulk")));
        Assert.Equal((0, 1, 4), (unused.Data("bulk", "inUse"), unused.Data("bulk", "limit"), unused.Data("bulk", "queueLimit")));
        Assert.False(registry.TryGetCreated("bulk", out _));

        var session = registry.GetSession("bulk");
        var held = session.GetAsync("hold/a");
        await upstream.Hold("a").Arrived.Task.WaitAsync(Upstream.Patience);
        var queued = new[] { session.GetAsync("hold/b") };
        var one = await GetHealthAsync(app);
        Assert.Equal("Healthy", one.Status("bulk"));
        Assert.Equal((1, 1, 1), (one.Data("bulk", "inUse"), one.Data("bulk", "waiting"), one.Data("bulk", "openConnections")));

        queued = [.. queued, session.GetAsync("hold/c")];
        var two = await GetHealthAsync(app);
        Assert.Equal((HttpStatusCode.OK, "Degraded", "Degraded"), (two.Code, two.Overall, two.Status("bulk")));
        Assert.Equal(2, two.Data("bulk", "waiting"));
        Assert.Contains("2 of the queue's 4 places are taken (50% or more)", two.Description("bulk"), StringComparison.Ordinal);

        foreach (var id in new[] { "a", "b", "c" })
        {
            upstream.Hold(id).Release.TrySetResult();
        }

        foreach (var request in queued.Prepend(held))
        {
            await using var response = await request;
            await response.ReadAsStringAsync();
        }

        var drained = await GetHealthAsync(app);
        Assert.Equal("Healthy", drained.Status("bulk"));
        Assert.Equal((0, 0), (drained.Data("bulk", "inUse"), drained.Data("bulk", "waiting")));
    }

    [Fact]
    public async Task Health_SessionsOnASharedConnector_AreJudgedByTheirOwnShare()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var app = await StartAppAsync(builder =>
        {
            builder.Services.AddClientConnector("upstream", o => o.Limit = 2);
            builder.Services.AddClientSession("bulk", o => (o.Connector, o.BaseAddress, o.Limit, o.QueueLimit) = ("upstream", upstream.BaseAddress, 1, 4));
            builder.Services.AddClientSession("priority", o => (o.Connector, o.BaseAddress, o.Priority) = ("upstream", upstream.BaseAddress, 10));
            builder.Services.AddHealthChecks().AddClientSessionHealthChecks();
            builder.Services.Configure<ClientSessionHealthCheckOptions>("bulk", o => o.DegradedQueueRatio = 0.5);
            builder.Services.Configure<ClientSessionHealthCheckOptions>("priority", o => o.DegradedQueueRatio = 0.5);
        });
        var registry = app.Services.GetRequiredService<SessionRegistry>();
        var (bulk, priority) = (registry.GetSession("bulk"), registry.GetSession("priority"));
        var requests = new[] { bulk.GetAsync("hold/a"), bulk.GetAsync("hold/b"), bulk.GetAsync("hold/c"), priority.GetAsync("hold/d") };
        await Task.WhenAll(upstream.Hold("a").Arrived.Task, upstream.Hold("d").Arrived.Task).WaitAsync(Upstream.Patience);

        // bulk's own queue (2 of its 4) is degraded; priority, in use and never waiting, is healthy beside it.
        var health = await GetHealthAsync(app);
        Assert.Equal(("Degraded", "Healthy"), (health.Status("bulk"), health.Status("priority")));
        Assert.Equal((1, 2, 4), (health.Data("bulk", "inUse"), health.Data("bulk", "waiting"), health.Data("bulk", "queueLimit")));
        Assert.Equal((1, 0), (health.Data("priority", "inUse"), health.Data("priority", "waiting")));

        foreach (var id in new[] { "a", "b", "c", "d" })
        {
            upstream.Hold(id).Release.TrySetResult();
        }

        foreach (var request in requests)
        {
            await using var response = await request;
            await response.ReadAsStringAsync();
        }
    }

    [Fact]
    public async Task Health_OldestWaiterReachesTheWaitThreshold_IsDegraded_EvenWithAnUnboundedQueue()
    {
        await using var upstream = await Upstream.StartAsync();
        var time = new FakeTimeProvider();
        await using var app = await StartAppAsync(builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(time);
            builder.Services.AddClientSession("crawl", o =>
            {
                o.BaseAddress = upstream.BaseAddress;
                o.Limit = 1;
                o.QueueLimit = 0; // unbounded: no share to take, only the wait can degrade it
            });
            builder.Services.AddHealthChecks().AddClientSessionHealthChecks(o => o.DegradedQueueWait = TimeSpan.FromSeconds(10));
        });
        var session = app.Services.GetRequiredKeyedService<ClientSession>("crawl");
        var held = session.GetAsync("hold/w1");
        await upstream.Hold("w1").Arrived.Task.WaitAsync(Upstream.Patience);
        var queued = Enumerable.Range(0, 50).Select(_ => session.GetAsync("ok")).ToList();
        Assert.Equal(50, session.Connector.Stats.Waiting);

        time.Advance(TimeSpan.FromSeconds(9));
        var before = await GetHealthAsync(app);
        Assert.Equal("Healthy", before.Status("crawl"));
        Assert.Equal("00:00:09", before.Text("crawl", "oldestWait"));

        time.Advance(TimeSpan.FromSeconds(1));
        var after = await GetHealthAsync(app);
        Assert.Equal((HttpStatusCode.OK, "Degraded"), (after.Code, after.Status("crawl")));
        Assert.Equal("00:00:10", after.Text("crawl", "oldestWait"));
        Assert.Equal((50, 0), (after.Data("crawl", "waiting"), after.Data("crawl", "queueLimit")));
        Assert.Contains("The oldest queued request has waited 00:00:10 (00:00:10 or more).", after.Description("crawl"), StringComparison.Ordinal);

        upstream.Hold("w1").Release.TrySetResult();
        foreach (var request in queued.Prepend(held))
        {
            (await request).Dispose();
        }

        var drained = await GetHealthAsync(app);
        Assert.Equal(("Healthy", "00:00:00"), (drained.Status("crawl"), drained.Text("crawl", "oldestWait")));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Health_ClosedSession_IsUnhealthyWith503_WhileTheOthersStayHealthy()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var app = await StartAppAsync(builder =>
        {
            builder.Services.AddClientSession("closed", o => o.BaseAddress = upstream.BaseAddress);
            builder.Services.AddClientSession("open", o => o.BaseAddress = upstream.BaseAddress);

            // Called twice (two libraries of the app may each call it): still one check per session.
            builder.Services.AddHealthChecks().AddClientSessionHealthChecks().AddClientSessionHealthChecks();
        });
        var session = app.Services.GetRequiredKeyedService<ClientSession>("closed");
        (await session.GetAsync("ok")).Dispose();

        await session.CloseAsync();
        var health = await GetHealthAsync(app);

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), (health.Code, health.Overall));
        Assert.Equal(("Unhealthy", "Session 'closed' is closed: it admits no request."), (health.Status("closed"), health.Description("closed")));
        Assert.Equal("Healthy", health.Status("open"));
        Assert.Equal(2, health.Body.GetProperty("entries").EnumerateObject().Count());
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
    }

    [Fact]
    public async Task AddClientSessionHealthChecks_FromAppSettingsJson_BindsDefaultsThenEachSession_InAWorker()
    {
        using var directory = new TempConfigDirectory("""
            {
              "AsyncHttp": {
                "Sessions": { "bulk": { "Limit": 1, "QueueLimit": 10 }, "priority": { "Limit": 0 } },
                "HealthChecks": {
                  "Defaults": { "DegradedQueueWait": "00:00:05", "Tags": [ "live" ] },
                  "Sessions": {
                    "bulk": { "DegradedQueueRatio": 0.95, "DegradedQueueWait": null, "FailureStatus": "Degraded" },
                    "priority": { "Tags": [ "ready" ] }
                  }
                }
              }
            }
            """);

        // A Worker: the Generic Host alone, no ASP.NET Core; the health check service runs the checks.
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        builder.Services.AddHealthChecks().AddClientSessionHealthChecks(builder.Configuration.GetSection("AsyncHttp:HealthChecks"));
        using var host = builder.Build();
        await host.StartAsync();
        var thresholds = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionHealthCheckOptions>>();

        var bulk = thresholds.Get("bulk");
        Assert.Equal((0.95, null, HealthStatus.Degraded), (bulk.DegradedQueueRatio, bulk.DegradedQueueWait, bulk.FailureStatus));
        Assert.Equal(["live"], bulk.Tags);
        var priority = thresholds.Get("priority");
        Assert.Equal((0.8, TimeSpan.FromSeconds(5), HealthStatus.Unhealthy), (priority.DegradedQueueRatio, priority.DegradedQueueWait, priority.FailureStatus));
        Assert.Equal(["live", "ready"], priority.Tags);

        var ready = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains("ready"));
        Assert.Equal(["AsyncHttp.ClientSession.priority"], ready.Entries.Keys);

        // The registration carries the session's failure status: a closed "bulk" is only degraded.
        await host.Services.GetRequiredKeyedService<ClientSession>("bulk").CloseAsync();
        var all = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, all.Entries["AsyncHttp.ClientSession.bulk"].Status);
        Assert.Equal(HealthStatus.Healthy, all.Entries["AsyncHttp.ClientSession.priority"].Status);

        // Once the host has stopped, a session never used cannot be created any more: it reports its failure status.
        await host.StopAsync();
        var stopped = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var unused = stopped.Entries["AsyncHttp.ClientSession.priority"];
        Assert.Equal((HealthStatus.Unhealthy, "Session 'priority' is closed: the host has stopped."), (unused.Status, unused.Description));
        Assert.False(host.Services.GetRequiredService<SessionRegistry>().TryGetCreated("priority", out _));
    }

    [Theory]
    [InlineData("""{ "Sessions": { "bulk": { "DegradedQueueRatio": 1.5 }, "priority": { "DegradedQueueWiat": "00:00:05" } } }""",
        "Health check of session 'bulk': DegradedQueueRatio must be above 0 and at most 1 (a share of QueueLimit); it is 1.5.", "DegradedQueueWiat")]
    [InlineData("""{ "Defaults": { "DegradedQueueWait": "00:00:00" } }""",
        "Health check of session 'priority': DegradedQueueWait must be above 0", "Health check of session 'bulk': DegradedQueueWait must be above 0")]
    [InlineData("""{ "DegradedQueueRatio": 0.5 }""", "Unknown configuration key 'AsyncHttp:HealthChecks:DegradedQueueRatio'", "expected 'Defaults'")]
    [InlineData("""{ "Sessions": { "bulck": { "DegradedQueueRatio": 0.5 } } }""", "'bulck', which is not registered", "'bulk', 'priority'")]
    public async Task AddClientSessionHealthChecks_BadThresholdsInAppSettingsJson_StopTheHostWithEveryError(string healthChecks, string error, string otherError)
    {
        using var directory = new TempConfigDirectory($$"""
            { "AsyncHttp": { "Sessions": { "bulk": { }, "priority": { } }, "HealthChecks": {{healthChecks}} } }
            """);
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        builder.Services.AddHealthChecks().AddClientSessionHealthChecks(builder.Configuration.GetSection("AsyncHttp:HealthChecks"));
        using var host = builder.Build();

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(error, failure.Message, StringComparison.Ordinal);
        Assert.Contains(otherError, failure.Message, StringComparison.Ordinal);
    }

    private static async Task<WebApplication> StartAppAsync(Action<WebApplicationBuilder> configure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        configure(builder);
        var app = builder.Build();
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = WriteJsonAsync });
        await app.StartAsync();
        return app;
    }

    /// <summary>The report with each entry's status, description and data, as an application would expose it.</summary>
    private static Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var entries = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data });
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { status = report.Status.ToString(), entries }));
    }

    private static async Task<Health> GetHealthAsync(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var client = new HttpClient();
        using var response = await client.GetAsync(address + "/health");
        return new Health(response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private sealed record Health(HttpStatusCode Code, JsonElement Body)
    {
        public string Overall => Body.GetProperty("status").GetString()!;

        public string Status(string session) => Entry(session).GetProperty("status").GetString()!;

        public string Description(string session) => Entry(session).GetProperty("description").GetString()!;

        public int Data(string session, string key) => Entry(session).GetProperty("data").GetProperty(key).GetInt32();

        public string Text(string session, string key) => Entry(session).GetProperty("data").GetProperty(key).GetString()!;

        private JsonElement Entry(string session) => Body.GetProperty("entries").GetProperty("AsyncHttp.ClientSession." + session);
    }
}
