using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Tests.DependencyInjection;

/// <summary>Middlewares added through the session builder, with services from DI.</summary>
public sealed class ClientSessionBuilderExtensionsTests
{
    [Fact]
    public async Task AddMiddleware_TwoMiddlewares_WrapEveryRequestFirstOutermostAndAreRebuiltWhenDecodingChanges()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Bulk:Limit"] = "4" });
        builder.Services.AddSingleton<MiddlewareCounter>();
        builder.Services.AddClientSession("bulk", o => o.BaseAddress = upstream.BaseAddress)
            .BindConfiguration("Bulk")
            .AddMiddleware(_ => new OrderMiddleware("outer"))
            .AddMiddleware<CountingMiddleware>();
        using var host = builder.Build();
        await host.StartAsync();
        var session = host.Services.GetRequiredService<ISessionRegistry>().GetSession("bulk");
        var counter = host.Services.GetRequiredService<MiddlewareCounter>();

        Assert.Equal("outer, counted", await GetStringAsync(session, "echo/X-Order"));
        Assert.Equal(1, counter.Created);

        // A new connection setting builds a new transport in the connector, below the middlewares: they stay.
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();
        configuration["Bulk:KeepAliveTimeout"] = "00:00:07";
        configuration.Reload();

        Assert.Equal("outer, counted", await GetStringAsync(session, "echo/X-Order"));
        Assert.Equal(1, counter.Created);

        // A new decoding setting builds a new pipeline, with new middleware instances (a new limit does not need one).
        configuration["Bulk:AutoDecompress"] = "false";
        configuration.Reload();

        Assert.Equal("outer, counted", await GetStringAsync(session, "echo/X-Order"));
        Assert.Equal(2, counter.Created);
        Assert.Equal(3, counter.Requests);
        await host.StopAsync();
    }

    private static async Task<string> GetStringAsync(ClientSession session, string url)
    {
        await using var response = await session.GetAsync(url);
        return await response.ReadAsStringAsync();
    }

    private sealed class MiddlewareCounter
    {
        public int Created;
        public int Requests;
    }

    private class OrderMiddleware(string name) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Add("X-Order", name);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class CountingMiddleware : OrderMiddleware
    {
        private readonly MiddlewareCounter _counter;

        public CountingMiddleware(MiddlewareCounter counter)
            : base("counted")
        {
            _counter = counter;
            Interlocked.Increment(ref counter.Created);
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _counter.Requests);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
