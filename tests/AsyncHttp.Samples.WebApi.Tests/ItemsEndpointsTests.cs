using System.Net;
using System.Text.Json;
using AsyncHttp.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Samples.WebApi.Tests;

/// <summary>
/// The WebApi sample as it runs (its Program, its appsettings.json: the <c>catalog</c> session with Limit 32,
/// LimitPerHost 16, Total 5 s, SockRead 2 s), started by WebApplicationFactory, with its upstream replaced by
/// AsyncHttp.Testing's fake one and its clock by a FakeTimeProvider. Only the socket layer is fake: the session's
/// limits, queue and timeouts are the sample's own.
/// </summary>
public sealed class ItemsEndpointsTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly TestUpstream _upstream = new();
    private readonly List<ClientTraceEvent> _queued = [];
    private readonly TaskCompletionSource _allQueued = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _expectedQueued = int.MaxValue;
    private WebApplicationFactory<Program> _factory = null!;
    private HttpClient _client = null!;

    public Task InitializeAsync()
    {
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            // An upstream address of the test's own: the sample does not start its demo server.
            web.UseSetting("Upstream", "http://catalog.test/");
            web.ConfigureTestServices(services =>
            {
                services.AddSingleton<TimeProvider>(_time);
                services.AddClientSession(ItemsEndpoints.Session)
                    .UseTestUpstream(_upstream)
                    .AddTrace(_ => new ClientTrace { OnConnectionQueuedStart = Queued });
            });
        });
        _client = _factory.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
    }

    [Fact]
    public async Task GetItems_Ids_FetchesEachThroughTheCatalogSessionAndAggregates()
    {
        MapItems();

        using var response = await _client.GetAsync("/items?ids=1,2,3");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("count").GetInt32());
        Assert.Equal(600, root.GetProperty("totalBytes").GetInt64());
        Assert.Equal(30, root.GetProperty("slowestUpstreamMs").GetInt32());
        Assert.Equal([1, 2, 3], root.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetInt32()));

        // What the upstream saw: one GET per id, from the catalog session, with the header from appsettings.json.
        Assert.Equal(
            ["/item/1", "/item/2", "/item/3"],
            _upstream.Requests.Select(r => r.Url.AbsolutePath).Order());
        Assert.All(_upstream.Requests, r =>
        {
            Assert.Equal(HttpMethod.Get, r.Method);
            Assert.Equal("catalog.test", r.Url.Host);
            Assert.Equal(ItemsEndpoints.Session, r.SessionName);
            Assert.Equal("asynchttp-webapi-sample/1.0", r.Headers["User-Agent"]);
        });
    }

    [Fact]
    public async Task GetItem_ThroughTheTypedClient_SendsThroughTheCatalogSession()
    {
        MapItems();

        using var response = await _client.GetAsync("/items/2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(2, json.RootElement.GetProperty("id").GetInt32());
        Assert.Equal(200, json.RootElement.GetProperty("size").GetInt32());

        // The typed HttpClient's request went through the catalog session: its base address and header, its connector.
        var request = Assert.Single(_upstream.Requests);
        Assert.Equal("http://catalog.test/item/2", request.Url.AbsoluteUri);
        Assert.Equal(ItemsEndpoints.Session, request.SessionName);
        Assert.Equal("asynchttp-webapi-sample/1.0", request.Headers["User-Agent"]);
        Assert.Equal(0, (await SessionStatsAsync()).GetProperty("inUse").GetInt32());
    }

    [Fact]
    public async Task GetItem_UpstreamNeverAnswers_Returns504AfterTheSessionsSockRead()
    {
        _upstream.Map(HttpMethod.Get, "/item/9").Respond(TestResponse.Text("late") with { HeadersDelay = Timeout.InfiniteTimeSpan });

        var pending = _client.GetAsync("/items/9");
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        _time.Advance(TimeSpan.FromSeconds(2));

        using var response = await pending.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("SockRead", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1,,x")]
    [InlineData("-1")]
    public async Task GetItems_BadIds_Returns400WithoutCallingTheUpstream(string ids)
    {
        using var response = await _client.GetAsync($"/items?ids={ids}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(_upstream.Requests);
    }

    [Fact]
    public async Task GetItems_MoreIdsThanLimitPerHost_QueueShowsInSessionsAndDrains()
    {
        MapItems(TimeSpan.FromSeconds(1));
        _expectedQueued = 24;

        var items = _client.GetAsync("/items?ids=" + string.Join(',', Enumerable.Range(1, 40)));
        await _upstream.WaitForRequestsAsync(16).WaitAsync(Patience);
        await _allQueued.Task.WaitAsync(Patience);

        // LimitPerHost 16 of appsettings.json: 16 at the upstream, 24 in the catalog session's queue.
        var catalog = await SessionStatsAsync();
        Assert.Equal(16, catalog.GetProperty("inUse").GetInt32());
        Assert.Equal(24, catalog.GetProperty("waiting").GetInt32());
        Assert.Equal(16, _upstream.Requests.Count);

        // Each second of the fake clock answers one batch; the queue hands the freed slots on.
        foreach (var received in new[] { 16, 32, 40 })
        {
            await _upstream.WaitForRequestsAsync(received).WaitAsync(Patience);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        using var response = await items.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(40, json.RootElement.GetProperty("count").GetInt32());
        catalog = await SessionStatsAsync();
        Assert.Equal(0, catalog.GetProperty("inUse").GetInt32());
        Assert.Equal(0, catalog.GetProperty("waiting").GetInt32());
    }

    [Fact]
    public async Task GetItems_UpstreamAnswers500_Returns502NamingTheFailedCall()
    {
        // Mapped first: routes are tried in order.
        _upstream.Map(HttpMethod.Get, "/item/2").Respond(TestResponse.Text("boom", HttpStatusCode.InternalServerError));
        MapItems();

        using var response = await _client.GetAsync("/items?ids=1,2,3");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Contains("item/2", problem, StringComparison.Ordinal);
        Assert.Contains("500", problem, StringComparison.Ordinal);
        Assert.Equal(0, (await SessionStatsAsync()).GetProperty("inUse").GetInt32());
    }

    [Fact]
    public async Task GetItems_UpstreamResetsTheConnection_Returns502()
    {
        _upstream.Map(HttpMethod.Get, "/item/1").Respond(TestResponse.Failure(TestFault.Reset));

        using var response = await _client.GetAsync("/items?ids=1");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("reset", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);

        // A GET is sent again after a reset before any response, as the transport does over real sockets (3 retries).
        Assert.Equal(4, _upstream.Requests.Count);
    }

    [Fact]
    public async Task GetItems_UpstreamNeverAnswers_Returns504AfterSockRead()
    {
        _upstream.Map(HttpMethod.Get, "/item/1").Respond(TestResponse.Text("late") with { HeadersDelay = Timeout.InfiniteTimeSpan });

        var pending = _client.GetAsync("/items?ids=1");
        await _upstream.WaitForRequestsAsync(1).WaitAsync(Patience);
        _time.Advance(TimeSpan.FromSeconds(2));

        using var response = await pending.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("SockRead", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetSessions_ShowsTheCatalogConnectorFromAppSettings()
    {
        var catalog = await SessionStatsAsync();

        Assert.Equal(32, catalog.GetProperty("limit").GetInt32());
        Assert.Equal(16, catalog.GetProperty("limitPerHost").GetInt32());
        Assert.Equal(256, catalog.GetProperty("queueLimit").GetInt32());
        Assert.Equal(0, catalog.GetProperty("inUse").GetInt32());
        Assert.Equal(0, catalog.GetProperty("openConnections").GetInt32());
    }

    /// <summary>Answers <c>/item/{id}</c> as the demo upstream does, with sizes and latencies made from the id.</summary>
    private void MapItems(TimeSpan delay = default)
        => _upstream.Map(r => r.Url.AbsolutePath.StartsWith("/item/", StringComparison.Ordinal)).Respond(r =>
        {
            var id = int.Parse(r.Url.Segments[^1], System.Globalization.CultureInfo.InvariantCulture);
            return TestResponse.Json($$"""{"id":{{id}},"latencyMs":{{id * 10}},"size":{{id * 100}}}""") with { HeadersDelay = delay };
        });

    private async Task<JsonElement> SessionStatsAsync()
    {
        using var response = await _client.GetAsync("/sessions");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty(ItemsEndpoints.Session).Clone();
    }

    private void Queued(ClientTraceEvent e)
    {
        lock (_queued)
        {
            _queued.Add(e);
            if (_queued.Count >= _expectedQueued)
            {
                _allQueued.TrySetResult();
            }
        }
    }
}
