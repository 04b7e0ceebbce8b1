using System.Text.Json.Nodes;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Tests;

/// <summary>Issue 3, point 3: appsettings.json binds every option; a bad setting stops the host at start.</summary>
public sealed class ConfigurationBindingTests
{
    private const string BulkSettings = """
        {
          "BaseAddress": "{upstream}",
          "Limit": 4,
          "LimitPerHost": 2,
          "QueueLimit": 10000,
          "Headers": { "X-Env": "bulk", "X-Api-Version": "2" },
          "Timeout": { "Total": "00:05:00", "Connect": "00:00:07", "SockConnect": "00:00:03", "SockRead": "00:00:30" },
          "KeepAliveTimeout": "00:00:20",
          "ForceClose": true,
          "DnsCacheTtl": "00:00:05",
          "RaiseForStatus": true,
          "AutoDecompress": false,
          "MaxResponseHeadersLength": 32,
          "MaxResponseContentBufferSize": 1048576,
          "MaxLineLength": 4096,
          "MaxRedirects": 3,
          "UseCookies": false,
          "UnsafeCookies": true,
          "MaxDecompressedContentSize": 2097152,
          "DangerousAcceptAnyServerCertificate": true,
          "Priority": 3,
          "ExpectContinue": true,
          "ExpectContinueTimeout": "00:00:02",
          "Version": "2.0",
          "VersionPolicy": "RequestVersionOrLower",
          "Proxy": "{upstream}",
          "TrustEnv": true,
          "HappyEyeballsDelay": "00:00:00.100"
        }
        """;

    [Fact]
    public async Task AppSettingsJson_TwoSessions_BindsEveryOption()
    {
        await using var upstream = await Upstream.StartAsync();
        using var directory = new TempConfigDirectory(AppSettings(upstream.BaseAddress, BulkSettings));
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>();

        var bulk = monitor.Get("bulk");
        Assert.Equal(upstream.BaseAddress, bulk.BaseAddress);
        Assert.Equal(4, bulk.Limit);
        Assert.Equal(2, bulk.LimitPerHost);
        Assert.Equal(10000, bulk.QueueLimit);
        Assert.Equal("my-app/1.0", bulk.Headers["User-Agent"]);
        Assert.Equal("bulk", bulk.Headers["x-env"]);
        Assert.Equal("2", bulk.Headers["X-Api-Version"]);
        Assert.Equal(TimeSpan.FromMinutes(5), bulk.Timeout.Total);
        Assert.Equal(TimeSpan.FromSeconds(7), bulk.Timeout.Connect);
        Assert.Equal(TimeSpan.FromSeconds(3), bulk.Timeout.SockConnect);
        Assert.Equal(TimeSpan.FromSeconds(30), bulk.Timeout.SockRead);
        Assert.Equal(TimeSpan.FromSeconds(20), bulk.KeepAliveTimeout);
        Assert.True(bulk.ForceClose);
        Assert.Equal(TimeSpan.FromSeconds(5), bulk.DnsCacheTtl);
        Assert.True(bulk.RaiseForStatus);
        Assert.False(bulk.AutoDecompress);
        Assert.Equal(32, bulk.MaxResponseHeadersLength);
        Assert.Equal(1048576, bulk.MaxResponseContentBufferSize);
        Assert.Equal(4096, bulk.MaxLineLength);
        Assert.Equal(3, bulk.MaxRedirects);
        Assert.False(bulk.UseCookies);
        Assert.True(bulk.UnsafeCookies);
        Assert.Equal(2097152, bulk.MaxDecompressedContentSize);
        Assert.True(bulk.DangerousAcceptAnyServerCertificate);
        Assert.True(bulk.ExpectContinue);
        Assert.Equal(TimeSpan.FromSeconds(2), bulk.ExpectContinueTimeout);
        Assert.Equal(System.Net.HttpVersion.Version20, bulk.Version);
        Assert.Equal(HttpVersionPolicy.RequestVersionOrLower, bulk.VersionPolicy);
        Assert.True(bulk.TrustEnv);
        Assert.Equal(TimeSpan.FromMilliseconds(100), bulk.HappyEyeballsDelay);

        // The upstream serves as the proxy too: Kestrel answers the absolute-form requests a plain-HTTP proxy gets.
        Assert.Equal(upstream.BaseAddress, bulk.Proxy);
        Assert.Null(bulk.ServerCertificateValidationCallback);
        Assert.Equal(3, bulk.Priority);

        var priority = monitor.Get("priority");
        Assert.Equal(0, priority.Limit);
        Assert.Equal(TimeSpan.FromSeconds(10), priority.Timeout.Total);
        Assert.Equal("my-app/1.0", priority.Headers["User-Agent"]);
        Assert.Equal(new ClientSessionOptions().QueueLimit, priority.QueueLimit);

        // The sessions run with them: limits in the connector, headers and base address on the wire, RaiseForStatus.
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var session = registry.GetSession("bulk");
        Assert.Equal(new[] { 4, 2, 10000 }, new[] { session.Connector.Stats.Limit, session.Connector.Stats.LimitPerHost, session.Connector.Stats.QueueLimit });
        Assert.Equal("my-app/1.0", await GetStringAsync(session, "echo/User-Agent"));
        Assert.Equal("bulk", await GetStringAsync(session, "echo/X-Env"));
        await Assert.ThrowsAsync<ResponseStatusException>(() => session.GetAsync("missing"));
        Assert.Equal(0, registry.GetSession("priority").Connector.Stats.Limit);
        await host.StopAsync();
    }

    [Fact]
    public void BulkSettings_CoverEveryBindableOption()
    {
        // Guards the test above: a setting added to ClientSessionOptions must be added to it too.
        var keys = JsonNode.Parse(BulkSettings)!.AsObject().Select(p => p.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);

        var properties = typeof(ClientSessionOptions).GetProperties()
            .Where(p => p.CanWrite
                && p.Name != nameof(ClientSessionOptions.ServerCertificateValidationCallback)
                && p.Name != nameof(ClientSessionOptions.TransportFactory)

                // A session on a shared connector cannot take the connection settings above: SharedConnectorHostTests binds it.
                && p.Name != nameof(ClientSessionOptions.Connector))
            .Select(p => p.Name);

        Assert.All(properties, name => Assert.Contains(name, keys));
    }

    [Theory]
    [InlineData("\"Limt\": 4", "AsyncHttp:Sessions:bulk:Limt")]
    [InlineData("\"Limit\": -1", "Limit")]
    [InlineData("\"Timeout\": { \"Total\": \"-00:00:05\" }", "Timeout:Total")]
    [InlineData("\"BaseAddress\": \"api/v1/\"", "BaseAddress")]
    [InlineData("\"Timeout\": { \"Totl\": \"00:00:05\" }", "AsyncHttp:Sessions:bulk:Timeout:Totl")]
    [InlineData("\"Limit\": \"many\"", "AsyncHttp:Sessions:bulk:Limit")]
    [InlineData("\"ServerCertificateValidationCallback\": \"accept\"", "AsyncHttp:Sessions:bulk:ServerCertificateValidationCallback")]
    [InlineData("\"TransportFactory\": \"fake\"", "AsyncHttp:Sessions:bulk:TransportFactory")]
    [InlineData("\"ExpectContinue\": \"maybe\"", "AsyncHttp:Sessions:bulk:ExpectContinue")]
    [InlineData("\"ExpectContinueTimeout\": \"-00:00:01\"", "ExpectContinueTimeout")]
    [InlineData("\"Version\": \"3.0\"", "Version")]
    [InlineData("\"Version\": \"two\"", "AsyncHttp:Sessions:bulk:Version")]
    [InlineData("\"VersionPolicy\": \"Newest\"", "AsyncHttp:Sessions:bulk:VersionPolicy")]
    [InlineData("\"Proxy\": \"socks5://user:secret@127.0.0.1:1080\"", "Proxy")]
    [InlineData("\"HappyEyeballsDelay\": \"-00:00:01\"", "HappyEyeballsDelay")]
    public async Task StartAsync_BadSetting_StopsTheHostNamingSessionAndKey(string badSetting, string key)
    {
        using var directory = new TempConfigDirectory(AppSettings(new Uri("http://127.0.0.1:1/"), "{ " + badSetting + " }"));
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal("bulk", error.OptionsName);
        Assert.Contains("Session 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'priority'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_SeveralBadSettingsInOneSection_ReportsEveryOneAtOnce()
    {
        const string Bad = """
            {
              "Limt": 5,
              "Limit": -1,
              "Timeout": { "Total": "abc", "Totl": "00:00:01", "SockRead": "-00:00:01" },
              "Extra": { "Deep": { "Er": 1 }, "Other": 2 },
              "ForceClose": "maybe",
              "Headers": { "X-Good": "1" },
              "QueueLimit": 10
            }
            """;
        using var directory = new TempConfigDirectory(AppSettings(new Uri("http://127.0.0.1:1/"), Bad));
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal("bulk", error.OptionsName);
        Assert.All(error.Failures, f => Assert.StartsWith("Session 'bulk': ", f, StringComparison.Ordinal));
        string[] named =
        [
            "'AsyncHttp:Sessions:bulk:Limt'", "Limit must be 0", "'AsyncHttp:Sessions:bulk:Timeout:Total'",
            "'AsyncHttp:Sessions:bulk:Timeout:Totl'", "Timeout:SockRead", "'AsyncHttp:Sessions:bulk:Extra'",
            "'AsyncHttp:Sessions:bulk:ForceClose'",
        ];
        Assert.All(named, n => Assert.Single(error.Failures, f => f.Contains(n, StringComparison.Ordinal)));
        Assert.Equal(named.Length, error.Failures.Count());
        Assert.DoesNotContain("abc", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("maybe", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_SeveralBadSettings_LogsEveryOneAtOnceAndBindsTheGoodOnes()
    {
        using var directory = new TempConfigDirectory(AppSettings(new Uri("http://127.0.0.1:1/"), """{ "Limit": 4 }"""));
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs, directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();
        await host.StartAsync();
        var configuration = (Microsoft.Extensions.Configuration.IConfigurationRoot)host.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>();
        var session = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");

        directory.WriteAppSettings(AppSettings(
            new Uri("http://127.0.0.1:1/"), """{ "Limt": 5, "Limit": -1, "Timeout": { "Total": "abc" }, "QueueLimit": 12 }"""));
        configuration.Reload();

        var rejected = await logs.WaitForEventAsync(2003, "AsyncHttp.ClientSession.bulk");
        Assert.Contains("'AsyncHttp:Sessions:bulk:Limt'", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("Limit must be 0", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("'AsyncHttp:Sessions:bulk:Timeout:Total'", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(4, session.Connector.Stats.Limit);

        // The settings next to the bad ones were bound: validation saw Limit, and QueueLimit took its value.
        var options = host.Services.GetRequiredService<IOptionsMonitor<ClientSessionOptions>>().Get("bulk");
        Assert.Equal((-1, 12), (options.Limit, options.QueueLimit));
        await host.StopAsync();
    }

    [Theory]
    [InlineData("http://user:s3cr3t@127.0.0.1:99999/?token=s3cr3t")]
    [InlineData("http://user:s3cr3t@127.0.0.1/api?token=s3cr3t")]
    [InlineData("ftp://user:s3cr3t@127.0.0.1/?token=s3cr3t")]
    [InlineData("socks5://user:s3cr3t@127.0.0.1:1080", "Proxy")]
    [InlineData("https://user:s3cr3t@127.0.0.1:3128", "Proxy")]
    [InlineData("http://user:s3cr3t@127.0.0.1:99999", "Proxy")]
    public async Task StartAsync_BadBaseAddressWithSecrets_NamesTheKeyWithoutThem(string baseAddress, string key = "BaseAddress")
    {
        using var directory = new TempConfigDirectory(AppSettings(new Uri("http://127.0.0.1:1/"), $$"""{ "{{key}}": "{{baseAddress}}" }"""));
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs, directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Session 'bulk'", error.Message, StringComparison.Ordinal);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", error.ToString(), StringComparison.Ordinal);
        Assert.All(logs.Entries, e => Assert.DoesNotContain("s3cr3t", e.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_BadDefault_NamesEverySession()
    {
        var json = """{ "AsyncHttp": { "Defaults": { "QueueLimit": -5 }, "Sessions": { "priority": {}, "bulk": {} } } }""";
        using var directory = new TempConfigDirectory(json);
        var builder = TestHosts.CreateBuilder(new LogCapture(), directory.Path);
        AddFromConfiguration(builder);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<AggregateException>(() => host.StartAsync());

        var messages = error.InnerExceptions.OfType<OptionsValidationException>().Select(e => e.Message).ToList();
        Assert.Contains(messages, m => m.Contains("Session 'priority': QueueLimit", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("Session 'bulk': QueueLimit", StringComparison.Ordinal));
    }

    private static void AddFromConfiguration(HostApplicationBuilder builder)
    {
        builder.Services.ConfigureClientSessionDefaults(builder.Configuration.GetSection("AsyncHttp:Defaults"));
        builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));
    }

    private static string AppSettings(Uri upstream, string bulkSettings) => $$"""
        {
          "AsyncHttp": {
            "Defaults": { "Headers": { "User-Agent": "my-app/1.0" } },
            "Sessions": {
              "priority": { "Limit": 0, "Timeout": { "Total": "00:00:10" } },
              "bulk": {{bulkSettings.Replace("{upstream}", upstream.ToString(), StringComparison.Ordinal)}}
            }
          }
        }
        """;

    private static async Task<string> GetStringAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }
}
