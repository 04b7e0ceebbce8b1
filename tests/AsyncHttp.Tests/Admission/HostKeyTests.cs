using System.Diagnostics.Metrics;
using System.Net;
using AsyncHttp.Internal;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// IPv6 literal hosts (<c>http://[::1]:port/</c>) in every place a host is shown: stats, gauges and logs. A host key
/// once lost its brackets, and parsing it back threw in the gauge callback, so no session reported any gauge.
/// </summary>
public sealed class HostKeyTests : IAsyncLifetime
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private TestServer _v6 = null!;
    private TestServer _v4 = null!;

    public async Task InitializeAsync()
    {
        _v6 = await TestServer.StartAsync(IPAddress.IPv6Loopback);
        _v4 = await TestServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _v6.DisposeAsync();
        await _v4.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Theory]
    [InlineData("http://[::1]:8080/x", "http://[::1]:8080", "::1")]
    [InlineData("https://[2001:db8::1]/", "https://[2001:db8::1]:443", "2001:db8::1")]
    [InlineData("http://127.0.0.1:81/", "http://127.0.0.1:81", "127.0.0.1")]
    [InlineData("http://Example.COM/", "http://example.com:80", "example.com")]
    public void ToString_AnyHost_IsAUrlThatParsesBackToTheSameHost(string url, string expected, string address)
    {
        var key = HostKey.From(new Uri(url));

        Assert.Equal(expected, key.ToString());
        Assert.Equal(address, key.Address);
        Assert.Equal(key.Port, new Uri(key.ToString()).Port);
        Assert.Equal(address, new Uri(key.ToString()).IdnHost);
    }

    [Theory]
    [InlineData("[::1]")]
    [InlineData("::1")]
    public void Constructor_IPv6HostWithOrWithoutBrackets_EqualsTheKeyOfTheUrl(string host)
    {
        // SocketsHttpHandler names the host to the connect callback with brackets; Uri.IdnHost gives it without.
        Assert.Equal(HostKey.From(new Uri("http://[::1]:8080/")), new HostKey("http", host, 8080));
        Assert.Equal("[::1]", new HostKey("http", host, 8080).Host);
    }

    [Fact]
    public async Task Stats_RequestToIPv6Literal_ShowHostInBracketsWithItsParts()
    {
        await using var session = new ClientSession("v6stats");
        Assert.Equal(IPAddress.IPv6Loopback.ToString(), _v6.BaseAddress.IdnHost);

        var held = session.GetAsync(_v6.Url("hold?id=s6"));
        await _v6.WhenArrived("s6");

        var host = Assert.Single(session.Connector.Stats.Hosts);
        Assert.Equal($"http://[::1]:{_v6.BaseAddress.Port}", host.Host);
        Assert.Equal(("http", "::1", _v6.BaseAddress.Port), (host.Scheme, host.Address, host.Port));

        // The connection the transport opened counts under the same host as the slot admission gave.
        Assert.Equal((1, 0, 1), (host.InUse, host.Waiting, host.OpenConnections));
        _v6.Open("s6");
        await using (var response = await held)
        {
            Assert.Equal("done:s6", await response.ReadAsStringAsync());
        }

        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Gauges_SessionThatCalledIPv6AndIPv4Hosts_ReportEveryHost()
    {
        var meters = _services.GetRequiredService<IMeterFactory>();
        using var inFlight = new MetricCollector<long>(meters, "AsyncHttp", "asynchttp.client.requests.in_flight");
        using var open = new MetricCollector<long>(meters, "AsyncHttp", "asynchttp.client.connections.open");
        await using var session = new ClientSession("v6gauges", meterFactory: meters);
        var v6 = session.GetAsync(_v6.Url("hold?id=g6"));
        var v4 = session.GetAsync(_v4.Url("hold?id=g4"));
        await _v6.WhenArrived("g6");
        await _v4.WhenArrived("g4");

        inFlight.RecordObservableInstruments();
        open.RecordObservableInstruments();

        var hosts = inFlight.GetMeasurementSnapshot()
            .Where(m => (string?)m.Tags["asynchttp.session"] == "v6gauges")
            .ToDictionary(m => ((string)m.Tags["server.address"]!, (int)m.Tags["server.port"]!), m => m.Value);
        Assert.Equal(2, hosts.Count);
        Assert.Equal(1, hosts[("::1", _v6.BaseAddress.Port)]);
        Assert.Equal(1, hosts[("127.0.0.1", _v4.BaseAddress.Port)]);
        Assert.Equal(2, open.GetMeasurementSnapshot().Where(m => (string?)m.Tags["asynchttp.session"] == "v6gauges").Sum(m => m.Value));

        _v6.Open("g6");
        _v4.Open("g4");
        (await v6).Dispose();
        (await v4).Dispose();
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Logs_RequestAndFailedConnectToIPv6Literal_NameTheHostInBrackets()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("v6logs", loggerFactory: logs);
        var port = LoopbackSockets.ClosedPort(IPAddress.IPv6Loopback);

        await using (var response = await session.GetAsync(_v6.Url("ok")))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://[::1]:{port}/"));

        var messages = logs.Entries.Select(e => (e.EventId.Id, e.Message)).ToList();
        Assert.Contains((1004, $"GET http://[::1]:{_v6.BaseAddress.Port}/ok started."), messages);
        Assert.Contains(messages, e => e.Id == 1009 && e.Message.StartsWith($"Connecting to http://[::1]:{port} failed", StringComparison.Ordinal));
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }
}
