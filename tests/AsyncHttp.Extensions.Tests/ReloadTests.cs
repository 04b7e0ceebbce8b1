using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Tests;

/// <summary>Issue 3, point 4: a configuration reload reaches the session instance callers already hold.</summary>
public sealed class ReloadTests
{
    private const int Reconfigured = 2002;
    private const int ReloadRejected = 2003;
    private const string BulkCategory = "AsyncHttp.ClientSession.bulk";

    [Fact]
    public async Task Reload_ConfigurationProviderReload_ChangesHeadersAndLimitsOfTheHeldSession()
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4);
        var held = fixture.Session;
        Assert.Equal("tenant-a", await GetStringAsync(held, "echo/X-Tenant"));

        fixture.Set("Headers:X-Tenant", "tenant-b");
        fixture.Set("Limit", "2");
        fixture.Reload();
        await fixture.Logs.WaitForEventAsync(Reconfigured, BulkCategory);

        Assert.Same(held, fixture.Registry.GetSession("bulk"));
        Assert.Equal("tenant-b", await GetStringAsync(held, "echo/X-Tenant"));
        Assert.Equal(2, held.Connector.Stats.Limit);
    }

    [Fact]
    public async Task Reload_JsonFileChanged_ChangesHeadersAndLimitsOfTheHeldSession()
    {
        await using var upstream = await Upstream.StartAsync();
        using var directory = new TempConfigDirectory(AppSettings(upstream.BaseAddress, "tenant-a", limit: 4));
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs, directory.Path, reloadOnChange: true);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        using var host = builder.Build();
        await host.StartAsync();
        var held = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        Assert.Equal("tenant-a", await GetStringAsync(held, "echo/X-Tenant"));
        var reconfigured = logs.WaitForEventAsync(Reconfigured, BulkCategory);

        directory.WriteAppSettings(AppSettings(upstream.BaseAddress, "tenant-b", limit: 2));
        await reconfigured;

        Assert.Equal("tenant-b", await GetStringAsync(held, "echo/X-Tenant"));
        Assert.Equal(2, held.Connector.Stats.Limit);
        await host.StopAsync();
    }

    [Fact]
    public async Task Reload_WithRequestInFlight_DoesNotFailIt()
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4);
        var hold = fixture.Upstream.Hold("in-flight");
        var inFlight = fixture.Session.GetAsync("hold/in-flight");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);

        // Changing the limit builds a new connection pool: the request in flight keeps the old one.
        fixture.Set("Limit", "1");
        fixture.Set("Headers:X-Tenant", "tenant-b");
        fixture.Reload();
        hold.Release.SetResult();

        await using (var response = await inFlight.WaitAsync(Upstream.Patience))
        {
            Assert.Equal("released in-flight", await response.ReadAsStringAsync());
        }

        Assert.Equal("tenant-b", await GetStringAsync(fixture.Session, "echo/X-Tenant"));
    }

    [Fact]
    public async Task Reload_LimitRaised_AdmitsTheQueuedRequest()
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 1);
        var session = fixture.Session;
        var (a, b) = (fixture.Upstream.Hold("a"), fixture.Upstream.Hold("b"));
        var first = session.GetAsync("hold/a");
        await a.Arrived.Task.WaitAsync(Upstream.Patience);
        var second = session.GetAsync("hold/b");
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        fixture.Set("Limit", "2");
        fixture.Reload();

        await b.Arrived.Task.WaitAsync(Upstream.Patience);
        Assert.False(a.Release.Task.IsCompleted);
        Assert.Equal((2, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        a.Release.SetResult();
        b.Release.SetResult();
        Assert.Equal("released a", await ReadAsync(first));
        Assert.Equal("released b", await ReadAsync(second));
    }

    [Fact]
    public async Task Reload_LimitLowered_QueuesUntilRequestsInFlightFallBelowIt()
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 2);
        var session = fixture.Session;
        var (a, b, c) = (fixture.Upstream.Hold("a"), fixture.Upstream.Hold("b"), fixture.Upstream.Hold("c"));
        var first = session.GetAsync("hold/a");
        var second = session.GetAsync("hold/b");
        await Task.WhenAll(a.Arrived.Task, b.Arrived.Task).WaitAsync(Upstream.Patience);

        fixture.Set("Limit", "1");
        fixture.Reload();
        var third = session.GetAsync("hold/c");

        Assert.Equal((2, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        a.Release.SetResult();
        Assert.Equal("released a", await ReadAsync(first));
        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.False(c.Arrived.Task.IsCompleted);
        b.Release.SetResult();
        Assert.Equal("released b", await ReadAsync(second));
        await c.Arrived.Task.WaitAsync(Upstream.Patience);
        c.Release.SetResult();
        Assert.Equal("released c", await ReadAsync(third));
    }

    [Theory]
    [InlineData("Limit", "-1", "Limit", "3")]
    [InlineData("Timeout:SockRead", "-00:00:01", "Timeout:SockRead", "00:00:01")]
    [InlineData("Limt", "3", "Limt", null)]
    public async Task Reload_InvalidSetting_IsLoggedAndTheSessionKeepsItsSettings(string key, string value, string named, string? fixedValue)
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4);
        var held = fixture.Session;

        fixture.Set(key, value);
        fixture.Set("Headers:X-Tenant", "tenant-b");
        fixture.Reload();

        var error = await fixture.Logs.WaitForEventAsync(ReloadRejected, BulkCategory);
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Contains("Session 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Equal(4, held.Connector.Stats.Limit);
        Assert.Equal("tenant-a", await GetStringAsync(held, "echo/X-Tenant"));

        if (fixedValue is null)
        {
            return;
        }

        // Fixing the setting applies the reload again.
        fixture.Set(key, fixedValue);
        fixture.Reload();
        await fixture.Logs.WaitForEventAsync(Reconfigured, BulkCategory);
        Assert.Equal("tenant-b", await GetStringAsync(held, "echo/X-Tenant"));
    }

    [Theory]
    [InlineData("http://user:s3cr3t@127.0.0.1:99999/?token=s3cr3t")]
    [InlineData("http://user:s3cr3t@127.0.0.1/api?token=s3cr3t")]
    public async Task Reload_BadBaseAddressWithSecrets_IsLoggedWithoutThem(string baseAddress)
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4);

        fixture.Set("BaseAddress", baseAddress);
        fixture.Reload();

        var error = await fixture.Logs.WaitForEventAsync(ReloadRejected, BulkCategory);
        Assert.Contains("BaseAddress", error.Message, StringComparison.Ordinal);
        Assert.All(fixture.Logs.Entries, e => Assert.DoesNotContain("s3cr3t", e.ToString(), StringComparison.Ordinal));
        Assert.Equal("tenant-a", await GetStringAsync(fixture.Session, "echo/X-Tenant"));
    }

    [Theory]
    [InlineData("registry")]
    [InlineData("keyed")]
    public async Task Reload_InvalidBeforeFirstUse_IsLoggedAndTheSessionStartsWithTheSettingsValidatedAtStart(string resolvedFrom)
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4, createSession: false);

        fixture.Set("Limit", "-1");
        fixture.Set("Headers:X-Tenant", "tenant-b");
        fixture.Reload();
        var session = resolvedFrom == "keyed"
            ? fixture.Host.Services.GetRequiredKeyedService<ClientSession>("bulk")
            : fixture.Registry.GetSession("bulk");

        var error = await fixture.Logs.WaitForEventAsync(ReloadRejected, BulkCategory);
        Assert.Contains("Session 'bulk': Limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, session.Connector.Stats.Limit);
        Assert.Equal("tenant-a", await GetStringAsync(session, "echo/X-Tenant"));
        Assert.Same(session, fixture.Registry.GetSession("bulk"));

        // Fixing the setting reaches the session created from the last good settings.
        fixture.Set("Limit", "2");
        fixture.Reload();
        await fixture.Logs.WaitForEventAsync(Reconfigured, BulkCategory);
        Assert.Equal(2, session.Connector.Stats.Limit);
        Assert.Equal("tenant-b", await GetStringAsync(session, "echo/X-Tenant"));
    }

    [Fact]
    public async Task Reload_GoodThenBadBeforeFirstUse_TheSessionStartsWithTheGoodReload()
    {
        await using var fixture = await ReloadFixture.StartAsync(limit: 4, createSession: false);
        fixture.Set("Limit", "3");
        fixture.Set("Headers:X-Tenant", "tenant-b");
        fixture.Reload();
        fixture.Set("Timeout:Total", "soon");
        fixture.Set("Headers:X-Tenant", "tenant-c");
        fixture.Reload();

        var session = fixture.Registry.GetSession("bulk");

        var error = await fixture.Logs.WaitForEventAsync(ReloadRejected, BulkCategory);
        Assert.Contains("Timeout:Total", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, session.Connector.Stats.Limit);
        Assert.Equal("tenant-b", await GetStringAsync(session, "echo/X-Tenant"));
    }

    [Fact]
    public async Task Reload_JsonFileWithABadValueBeforeFirstUse_TheSessionStartsWithTheSettingsValidatedAtStart()
    {
        await using var upstream = await Upstream.StartAsync();
        using var directory = new TempConfigDirectory(AppSettings(upstream.BaseAddress, "tenant-a", limit: 4));
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs, directory.Path, reloadOnChange: true);
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
        using var host = builder.Build();
        await host.StartAsync();
        var rejected = logs.WaitForEventAsync(ReloadRejected, BulkCategory);

        directory.WriteAppSettings(AppSettings(upstream.BaseAddress, "tenant-b", limit: -1));
        var error = await rejected;
        var session = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");

        Assert.Contains("Session 'bulk': Limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, session.Connector.Stats.Limit);
        Assert.Equal("tenant-a", await GetStringAsync(session, "echo/X-Tenant"));
        await host.StopAsync();
    }

    private static async Task<string> GetStringAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    private static async Task<string> ReadAsync(Task<ClientResponse> pending)
    {
        await using var response = await pending.WaitAsync(Upstream.Patience);
        return await response.ReadAsStringAsync();
    }

    private static string AppSettings(Uri upstream, string tenant, int limit) => $$"""
        {
          "AsyncHttp": {
            "Sessions": {
              "bulk": { "BaseAddress": "{{upstream}}", "Limit": {{limit}}, "Headers": { "X-Tenant": "{{tenant}}" } }
            }
          }
        }
        """;

    /// <summary>A started host with session "bulk" bound from an in-memory provider, reloaded with <see cref="IConfigurationRoot.Reload"/>.</summary>
    private sealed class ReloadFixture : IAsyncDisposable
    {
        private const string Section = "AsyncHttp:Sessions:bulk:";
        private ClientSession? _session;

        private ReloadFixture(Upstream upstream, IHost host, LogCapture logs, bool createSession)
        {
            Upstream = upstream;
            Host = host;
            Logs = logs;
            Registry = host.Services.GetRequiredService<ISessionRegistry>();
            _session = createSession ? Registry.GetSession("bulk") : null;
        }

        public Upstream Upstream { get; }

        public IHost Host { get; }

        public LogCapture Logs { get; }

        public ISessionRegistry Registry { get; }

        /// <summary>The session, created when the fixture started unless told otherwise, on first use then.</summary>
        public ClientSession Session => _session ??= Registry.GetSession("bulk");

        private IConfigurationRoot Configuration => (IConfigurationRoot)Host.Services.GetRequiredService<IConfiguration>();

        public static async Task<ReloadFixture> StartAsync(int limit, bool createSession = true)
        {
            var upstream = await Infrastructure.Upstream.StartAsync();
            var logs = new LogCapture();
            var builder = TestHosts.CreateBuilder(logs);
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [Section + "BaseAddress"] = upstream.BaseAddress.ToString(),
                [Section + "Limit"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [Section + "Headers:X-Tenant"] = "tenant-a",
            });
            builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
            var host = builder.Build();
            await host.StartAsync();
            return new ReloadFixture(upstream, host, logs, createSession);
        }

        public void Set(string key, string? value) => Configuration[Section + key] = value;

        public void Reload() => Configuration.Reload();

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync();
            Host.Dispose();
            await Upstream.DisposeAsync();
        }
    }
}
