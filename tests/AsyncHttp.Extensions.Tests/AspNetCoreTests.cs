using System.Net;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Tests;

/// <summary>The same registration in an ASP.NET Core application: a minimal API endpoint takes the keyed session.</summary>
public sealed class AspNetCoreTests
{
    [Fact]
    public async Task MinimalApi_FromKeyedServicesParameter_CallsUpstreamAndClosesTheSessionAtStop()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Services.AddClientSession("upstream", o => o.BaseAddress = upstream.BaseAddress)
            .ConfigureHeaders(h => h["X-From"] = "gateway");
        await using var app = builder.Build();
        app.MapGet("/relay", async ([FromKeyedServices("upstream")] ClientSession session, CancellationToken cancellationToken) =>
        {
            await using var response = await session.GetAsync("echo/X-From", cancellationToken: cancellationToken);
            return await response.ReadAsStringAsync(cancellationToken);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        await using (var client = new ClientSession())
        await using (var response = await client.GetAsync(address + "/relay"))
        {
            Assert.Equal("gateway", await response.ReadAsStringAsync());
        }

        var session = app.Services.GetRequiredKeyedService<ClientSession>("upstream");
        await app.StopAsync();
        Assert.True(session.IsClosed);
        await upstream.WhenAllConnectionsClosedAsync().WaitAsync(Upstream.Patience);
        Assert.Equal(1, upstream.ConnectionsOpened);
    }
}
