using System.Diagnostics.Metrics;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncHttp.Extensions.Tests;

/// <summary>In a host, sessions and their transports report to the host's IMeterFactory, and run the trace callbacks added to them.</summary>
public sealed class ObservabilityWiringTests
{
    [Fact]
    public async Task Session_InAHost_ReportsToTheHostsMeterFactory_WithItsTransport_AndRunsItsTraces()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        var traced = new List<TraceEventKind>();
        builder.Services.AddClientSession("observed", o => o.BaseAddress = upstream.BaseAddress)
            .AddTrace(_ => new ClientTrace { OnRequestStart = e => traced.Add(e.Kind), OnRequestEnd = e => traced.Add(e.Kind) });
        using var host = builder.Build();
        await host.StartAsync();
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var duration = new MetricCollector<double>(meters, "AsyncHttp", "asynchttp.client.request.duration");
        using var transport = new MetricCollector<double>(meters, "System.Net.Http", "http.client.request.duration");
        var session = host.Services.GetRequiredKeyedService<ClientSession>("observed");

        await using (var response = await session.GetAsync("ok"))
        {
            await response.ReadAsStringAsync();
        }

        Assert.Equal([TraceEventKind.RequestStart, TraceEventKind.RequestEnd], traced);
        var measurement = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal("observed", measurement.Tags["asynchttp.session"]);

        // The transport's own System.Net.Http metrics come from the host's factory too, as IHttpClientFactory's do.
        Assert.Single(transport.GetMeasurementSnapshot());
        await host.StopAsync();
    }
}
