using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using Refit;

namespace AsyncHttp.Extensions.Tests.HttpClientFactory;

/// <summary>
/// Issue 16: <c>UseClientSession</c> puts typed, named, keyed and Refit clients of <see cref="IHttpClientFactory"/> on a
/// session, in a real Generic Host against a real Kestrel upstream.
/// </summary>
public sealed class ClientSessionHttpClientBuilderExtensionsTests
{
    private const int ClosingSessions = 2005;

    private static async Task<IHost> StartHostAsync(Upstream upstream, Action<IServiceCollection> configure, int limit = 4, LogCapture? logs = null, Action<ClientSessionOptions>? options = null)
    {
        var builder = TestHosts.CreateBuilder(logs ?? new LogCapture());
        builder.Services.AddClientSession("bulk", o =>
        {
            o.Limit = limit;
            o.BaseAddress = upstream.BaseAddress;
            options?.Invoke(o);
        });
        configure(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static ClientSession Bulk(IHost host) => host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    private static async Task<string> ViaSessionAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    [Fact]
    public async Task UseClientSession_ThreeTypedClientsAndTheSession_ShareOneLimitAndOneQueue()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(upstream, services =>
        {
            services.AddHttpClient<AlphaClient>().UseClientSession("bulk");
            services.AddHttpClient<BetaClient>().UseClientSession("bulk");
            services.AddHttpClient<GammaClient>().UseClientSession("bulk");
        });
        var session = Bulk(host);
        var alpha = host.Services.GetRequiredService<AlphaClient>();
        var beta = host.Services.GetRequiredService<BetaClient>();
        var gamma = host.Services.GetRequiredService<GammaClient>();

        var calls = Enumerable.Range(0, 40).Select(i => (i % 4) switch
        {
            0 => alpha.SlotAsync($"a{i}"),
            1 => beta.SlotAsync($"b{i}"),
            2 => gamma.SlotAsync($"c{i}"),
            _ => ViaSessionAsync(session, $"slot/s{i}"),
        }).ToArray();

        // Every call is admitted or queued before it returns its task: 4 in flight, the other 36 in the one queue.
        var stats = session.Connector.Stats;
        Assert.Equal((4, 36), (stats.InUse, stats.Waiting));
        Assert.Equal(36, Assert.Single(stats.Hosts).Waiting);
        await upstream.WhenSlotArrivals(4);
        upstream.OpenSlots();
        var results = await Task.WhenAll(calls).WaitAsync(Upstream.Patience);

        Assert.Equal(40, results.Distinct().Count());
        Assert.Equal(4, upstream.MaxSlotsInFlight);
        Assert.True(upstream.ConnectionsOpened <= 4, $"{upstream.ConnectionsOpened} connections for a limit of 4");
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task UseClientSession_NamedAndKeyedClients_SendThroughTheSession_WhateverTheCaseOfItsName()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(
            upstream,
            services =>
            {
                services.AddHttpClient("named").UseClientSession("BULK");
                services.AddHttpClient("keyed").UseClientSession("Bulk").AddAsKeyed();
            },
            limit: 1);
        var session = Bulk(host);
        var named = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("named");
        var keyed = host.Services.GetRequiredKeyedService<HttpClient>("keyed");

        var first = named.GetStringAsync("slot/n");
        var second = keyed.GetStringAsync("slot/k");

        Assert.Equal((1, 1), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        upstream.OpenSlots();
        Assert.Equal("slot n", await first.WaitAsync(Upstream.Patience));
        Assert.Equal("slot k", await second.WaitAsync(Upstream.Patience));
        Assert.Equal(1, upstream.ConnectionsOpened);
        AssertNothingHeld(session);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseClientSession_UnknownSession_StopsTheHostAtStart(bool anySessionRegistered)
    {
        var builder = TestHosts.CreateBuilder(new LogCapture());
        if (anySessionRegistered)
        {
            builder.Services.AddClientSession("bulk");
        }

        builder.Services.AddHttpClient("orders").UseClientSession("nope");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("'orders'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'nope'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseClientSession_BaseAddressAndBufferCap_ClientsOwnWin_AndTheSmallerCap()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(
            upstream,
            services =>
            {
                services.AddHttpClient("plain").UseClientSession("bulk");
                services.AddHttpClient("own").UseClientSession("bulk").ConfigureHttpClient(c =>
                {
                    c.BaseAddress = upstream.Url("elsewhere/");
                    c.MaxResponseContentBufferSize = 500;
                });
                services.AddHttpClient("larger").ConfigureHttpClient(c => c.MaxResponseContentBufferSize = 5000).UseClientSession("bulk");
            },
            limit: 1,
            options: o => o.MaxResponseContentBufferSize = 1000);
        var factory = host.Services.GetRequiredService<IHttpClientFactory>();
        var plain = factory.CreateClient("plain");
        var own = factory.CreateClient("own");
        var larger = factory.CreateClient("larger");

        Assert.Equal((upstream.BaseAddress, 1000L), (plain.BaseAddress, plain.MaxResponseContentBufferSize));
        Assert.Equal((upstream.Url("elsewhere/"), 500L), (own.BaseAddress, own.MaxResponseContentBufferSize));
        Assert.Equal(1000L, larger.MaxResponseContentBufferSize);

        // The cap is HttpClient's, lowered to the session's: HttpClient refuses to buffer the body, and the slot goes back.
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("big/5000"));
        Assert.Equal(999, (await plain.GetByteArrayAsync("big/999")).Length);
        AssertNothingHeld(Bulk(host));
    }

    [Fact]
    public async Task UseClientSession_ClientCreatedAfterAReload_TakesTheSessionsNewSettings()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(upstream, services => services.AddHttpClient("c").UseClientSession("bulk"), options: o => o.MaxResponseContentBufferSize = 1000);
        var factory = host.Services.GetRequiredService<IHttpClientFactory>();
        Assert.Equal(1000, factory.CreateClient("c").MaxResponseContentBufferSize);

        Bulk(host).Reconfigure(new ClientSessionOptions { Limit = 4, BaseAddress = upstream.BaseAddress, MaxResponseContentBufferSize = 2000 });

        Assert.Equal(2000, factory.CreateClient("c").MaxResponseContentBufferSize);
    }

    [Fact]
    public async Task Refit_InterfaceClientOnTheSession_ObeysTheLimitAndReleasesEverySlot()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(upstream, services => services.AddRefitGeneratedClient<IUpstreamApi>().UseClientSession("bulk"), limit: 2);
        var session = Bulk(host);
        var api = host.Services.GetRequiredService<IUpstreamApi>();

        var calls = Enumerable.Range(0, 10).Select(i => api.SlotAsync($"r{i}")).ToArray();

        Assert.Equal((2, 8), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await upstream.WhenSlotArrivals(2);
        upstream.OpenSlots();
        var results = await Task.WhenAll(calls).WaitAsync(Upstream.Patience);
        var big = await api.BigAsync(100_000);
        await big.CopyToAsync(Stream.Null);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"slot r{i}"), results);
        Assert.Equal(2, upstream.MaxSlotsInFlight);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task HandlerRotation_BuildsNewChainsThroughTheFactory_WithoutNewPoolsOrConnections()
    {
        await using var upstream = await Upstream.StartAsync();
        using var host = await StartHostAsync(
            upstream,
            services =>
            {
                services.AddHttpClient("session").UseClientSession("bulk");
                services.AddHttpClient("plain", c => c.BaseAddress = upstream.BaseAddress);
            },
            limit: 1);
        var session = Bulk(host);
        var connector = session.Connector;

        const int Rotations = 12;
        for (var i = 0; i < Rotations; i++)
        {
            Assert.Equal("ok", await SendThroughNewChainAsync(host.Services, "session", "ok"));
        }

        Assert.Same(connector, Bulk(host).Connector);
        Assert.Equal(1, upstream.ConnectionsOpened);
        Assert.Equal(1, upstream.OpenConnections);
        AssertNothingHeld(session);

        // The plain factory, by contrast: each rotation is a new pool, whose first request opens a new connection.
        for (var i = 0; i < Rotations; i++)
        {
            Assert.Equal("ok", await SendThroughNewChainAsync(host.Services, "plain", "ok"));
        }

        Assert.Equal(1 + Rotations, upstream.ConnectionsOpened);
    }

    /// <summary>
    /// What the factory does when a handler's lifetime ends (DefaultHttpClientFactory.CreateHandlerEntry), without its
    /// wall-clock timer: a new <see cref="HttpMessageHandlerBuilder"/> in a new scope, the client's named actions wrapped
    /// by the registered filters, a chain built and used by a new client, then disposed as the factory's cleanup does.
    /// </summary>
    private static async Task<string> SendThroughNewChainAsync(IServiceProvider services, string name, string url)
    {
        var options = services.GetRequiredService<IOptionsMonitor<HttpClientFactoryOptions>>().Get(name);
        var filters = services.GetServices<IHttpMessageHandlerBuilderFilter>().ToArray();
        using var scope = services.CreateScope();
        var builder = scope.ServiceProvider.GetRequiredService<HttpMessageHandlerBuilder>();
        builder.Name = name;
        Action<HttpMessageHandlerBuilder> configure = b =>
        {
            foreach (var action in options.HttpMessageHandlerBuilderActions)
            {
                action(b);
            }
        };
        for (var i = filters.Length - 1; i >= 0; i--)
        {
            configure = filters[i].Configure(configure);
        }

        configure(builder);
        var handler = builder.Build();
        try
        {
            using var client = new HttpClient(handler, disposeHandler: false);
            foreach (var action in options.HttpClientActions)
            {
                action(client);
            }

            return await client.GetStringAsync(url);
        }
        finally
        {
            handler.Dispose();
        }
    }

    [Fact]
    public async Task HostShutdown_DrainsHttpClientCallsInFlight_LikeSessionCalls()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        using var host = await StartHostAsync(upstream, services => services.AddHttpClient<AlphaClient>().UseClientSession("bulk"), logs: logs);
        var alpha = host.Services.GetRequiredService<AlphaClient>();
        var session = Bulk(host);
        var hold = upstream.Hold("drain");
        var inFlight = alpha.GetAsync("hold/drain");
        await hold.Arrived.Task.WaitAsync(Upstream.Patience);

        var stopping = host.StopAsync();
        await logs.WaitForEventAsync(ClosingSessions);

        // Closed to new work through the client too, but the host waits for the call in flight.
        Assert.True(session.IsClosed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => alpha.GetAsync("ok"));
        Assert.False(stopping.IsCompleted);
        hold.Release.SetResult();
        Assert.Equal("released drain", await inFlight.WaitAsync(Upstream.Patience));
        await stopping.WaitAsync(Upstream.Patience);
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        AssertNothingHeld(session);
    }

    public sealed class AlphaClient(HttpClient http)
    {
        public Task<string> SlotAsync(string id) => http.GetStringAsync($"slot/{id}");

        public Task<string> GetAsync(string url) => http.GetStringAsync(url);
    }

    public sealed class BetaClient(HttpClient http)
    {
        public Task<string> SlotAsync(string id) => http.GetStringAsync($"slot/{id}");
    }

    public sealed class GammaClient(HttpClient http)
    {
        public Task<string> SlotAsync(string id) => http.GetStringAsync($"slot/{id}");
    }
}
