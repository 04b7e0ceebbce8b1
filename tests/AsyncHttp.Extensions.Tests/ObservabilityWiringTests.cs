using System.Diagnostics.Metrics;
using AsyncHttp.Extensions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncHttp.Extensions.Tests;

/// <summary>In a host, sessions report to the host's IMeterFactory and run the trace callbacks added to them.</summary>
public sealed class ObservabilityWiringTests
{
    [Fact]
    public async Task Session_InAHost_ReportsToTheHostsMeterFactory_AndRunsItsTraces()
    {
        await using var upstream = await Upstream.StartAsync();
        var builder = TestHosts.CreateBuilder(new LogCapture());
        var traced = new List<TraceEventKind>();
        builder.Services.AddClientSession("observed", o => o.BaseAddress = upstream.BaseAddress)
            .AddTrace(_ => new ClientTrace { OnRequestStart = e => traced.Add(e.Kind), OnRequestEnd = e => traced.Add(e.Kind) });
        using var host = builder.Build();
        await host.StartAsync();
        using var duration = new MetricCollector<double>(host.Services.GetRequiredService<IMeterFactory>(), "AsyncHttp", "asynchttp.client.request.duration");
        var session = host.Services.GetRequiredKeyedService<ClientSession>("observed");

        await using (var response = await session.GetAsync("ok"))
        {
            await response.ReadAsStringAsync();
        }

        Assert.Equal([TraceEventKind.RequestStart, TraceEventKind.RequestEnd], traced);
        var measurement = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal("observed", measurement.Tags["asynchttp.session"]);
        await host.StopAsync();
    }
}
