using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Extensions.Tests;

/// <summary>Issue 3, point 7: one logger category per session; no header value or query string in the logs.</summary>
public sealed class LoggingTests
{
    private const string HeaderSecret = "header-secret-1234";
    private const string QuerySecret = "query-secret-5678";

    [Fact]
    public async Task Logs_FailedRequestWithSecrets_UseTheSessionCategoryAndRedactHeaderValuesAndQuery()
    {
        await using var upstream = await Upstream.StartAsync();
        var logs = new LogCapture();
        var builder = TestHosts.CreateBuilder(logs);
        builder.Services.AddClientSession("payments", o =>
        {
            o.BaseAddress = upstream.BaseAddress;
            o.Headers["Authorization"] = "Bearer " + HeaderSecret;
        });
        builder.Services.AddClientSession("search", o => o.BaseAddress = upstream.BaseAddress);
        using var host = builder.Build();
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<ISessionRegistry>();
        var payments = registry.GetSession("payments");
        registry.GetSession("search");

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => payments.GetAsync($"abort?token={QuerySecret}"));
        await host.StopAsync();

        // The request was sent with both secrets, so the logs had the chance to leak them.
        Assert.Contains(upstream.Requests, r => r.Contains(QuerySecret, StringComparison.Ordinal));
        var failed = await logs.WaitForEventAsync(1001);
        Assert.Equal("AsyncHttp.ClientSession.payments", failed.Category);
        Assert.Contains("/abort?*", failed.Message, StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.Category == "AsyncHttp.ClientSession.search" && e.Message.Contains("search", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Entries, e => e.Category == "AsyncHttp.ClientSession.search" && e.Message.Contains("payments", StringComparison.Ordinal));
        Assert.All(logs.Entries, e =>
        {
            var text = e.ToString();
            Assert.DoesNotContain(HeaderSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(QuerySecret, text, StringComparison.Ordinal);
        });
    }
}
