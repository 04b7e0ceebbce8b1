using System.Globalization;
using System.Text.RegularExpressions;
using AsyncHttp.Samples.Worker;
using Microsoft.Extensions.Configuration;

namespace AsyncHttp.Samples.Tests;

/// <summary>
/// Runs the Worker sample as the README's first command does (same code, same appsettings.json), in-process, so
/// that the command cannot break silently.
/// </summary>
public sealed class WorkerSampleTests
{
    // Generous: the crawl takes a few seconds; this only keeps a hung run from hanging the test run.
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task RunAsync_DefaultSettings_CrawlsEveryUrlAndPriorityNeverQueuesWhileBulksQueueIsDeep()
    {
        var settings = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
            .Build();
        var count = settings.GetValue<int>("Crawl:Count");
        var bulkLimit = settings.GetValue<int>("AsyncHttp:Sessions:bulk:Limit");
        var connectorLimit = settings.GetValue<int>("AsyncHttp:Connectors:upstream:Limit");

        // The story of the sample: both sessions on one connector, bulk's own Limit below the connector's.
        Assert.Equal("upstream", settings["AsyncHttp:Sessions:bulk:Connector"]);
        Assert.Equal("upstream", settings["AsyncHttp:Sessions:priority:Connector"]);
        Assert.InRange(bulkLimit, 1, connectorLimit - 1);

        var (exitCode, output) = await RunWorkerAsync([]);

        Assert.True(exitCode == 0, output);
        Assert.Contains("(embedded demo)", output, StringComparison.Ordinal);
        Assert.Equal(count, SummaryValue(output, "requests (bulk)"));
        Assert.Equal(0, SummaryValue(output, "failed (bulk)"));
        Assert.InRange(SummaryValue(output, "max in use (bulk)"), 1, bulkLimit);
        Assert.InRange(SummaryValue(output, "max in use (connector upstream)"), 1, connectorLimit);
        Assert.InRange(SummaryValue(output, "max queue depth (bulk)"), count / 2, count);
        Assert.InRange(SummaryValue(output, "requests (priority)"), 1, int.MaxValue);
        Assert.Equal(0, SummaryValue(output, "failed (priority)"));

        // Rule (b): while bulk's queue is deep, priority never waits for a slot.
        Assert.Equal(0, SummaryValue(output, "max queue depth (priority)"));
        Assert.Equal(0, SummaryValue(output, "max queue wait (priority)", " ms"));
        Assert.InRange(SummaryValue(output, "max queue wait (bulk)", " ms"), 1, int.MaxValue);
    }

    [Theory]
    [InlineData("--AsyncHttp:Sessions:bulk:ForceClose=true", "Session 'bulk': ForceClose shapes connections")]
    [InlineData("--AsyncHttp:Connectors:upstream:Limit=-1", "Connector 'upstream': Limit must be 0")]
    [InlineData("--AsyncHttp:Sessions:priority:Connector=elsewhere", "Session 'priority': Connector names 'elsewhere', which is not a registered connector")]
    public async Task RunAsync_InvalidConnectorSetting_ExitsWithTwoNamingSessionOrConnectorAndKey(string argument, string message)
    {
        var (exitCode, output) = await RunWorkerAsync([argument]);

        Assert.Equal(2, exitCode);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Upstream_CrawlsThatServer()
    {
        await using var upstream = await DemoUpstream.StartAsync();

        var (exitCode, output) = await RunWorkerAsync(["--upstream", upstream.BaseAddress.AbsoluteUri, "--count", "40"]);

        Assert.True(exitCode == 0, output);
        Assert.DoesNotContain("(embedded demo)", output, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^\s*upstream:\s+{Regex.Escape(upstream.BaseAddress.AbsoluteUri)}\s*$", output);
        Assert.Equal(40, SummaryValue(output, "requests (bulk)"));
        Assert.Equal(0, SummaryValue(output, "failed (bulk)"));
    }

    [Fact]
    public async Task RunAsync_UpstreamNotAUrl_ExitsWithTwo()
    {
        var (exitCode, output) = await RunWorkerAsync(["--upstream", "not a url"]);

        Assert.Equal(2, exitCode);
        Assert.Contains("--upstream", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UpstreamDown_ExitsWithOneBeforeCrawling()
    {
        // Nothing listens on port 1 of the loopback address: the connection is refused at once.
        var (exitCode, output) = await RunWorkerAsync(["--upstream", "http://127.0.0.1:1/"]);

        Assert.Equal(1, exitCode);
        Assert.Contains("did not answer", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Summary", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_InvalidSessionSetting_ExitsWithTwoNamingSessionAndKey()
    {
        var (exitCode, output) = await RunWorkerAsync(["--AsyncHttp:Sessions:bulk:Limit=-1"]);

        Assert.Equal(2, exitCode);
        Assert.Contains("Session 'bulk'", output, StringComparison.Ordinal);
        Assert.Contains("Limit", output, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output)> RunWorkerAsync(string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var stop = new CancellationTokenSource(RunTimeout);
        var exitCode = await WorkerApp.RunAsync(args, output, stop.Token).WaitAsync(RunTimeout + TimeSpan.FromSeconds(30));
        return (exitCode, output.ToString());
    }

    private static int SummaryValue(string output, string key, string unit = "")
    {
        var match = Regex.Match(output, $@"(?m)^\s*{Regex.Escape(key)}:\s+(\d+){Regex.Escape(unit)}\s*$");
        Assert.True(match.Success, $"No '{key}: N' line in the output:\n{output}");
        return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
