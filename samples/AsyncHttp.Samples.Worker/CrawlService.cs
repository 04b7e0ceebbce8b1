using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Samples.Worker;

/// <summary>
/// The crawl: every URL goes to the <c>bulk</c> session at once; the connector it shares with <c>priority</c> lets
/// bulk's own <c>Limit</c> of them run and queues the rest. Meanwhile <c>priority</c> checks <c>health</c> on the same
/// connector and never waits: bulk's own limit leaves it room. At the end it writes a summary and stops the host.
/// </summary>
internal sealed class CrawlService(
    [FromKeyedServices("bulk")] ClientSession bulk,
    [FromKeyedServices("priority")] ClientSession priority,
    QueueWaits queueWaits,
    IOptions<CrawlOptions> options,
    CrawlRun run,
    TimeProvider time,
    IHostApplicationLifetime lifetime) : BackgroundService
{
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(100);

    private readonly SessionRecorder _bulk = new(bulk.Name);
    private readonly SessionRecorder _priority = new(priority.Name);
    private int _connectorMaxInUse;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            run.ExitCode = await CrawlAsync(options.Value, stoppingToken);
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private async Task<int> CrawlAsync(CrawlOptions crawl, CancellationToken stoppingToken)
    {
        var (pool, own, checker) = (bulk.Connector.Stats, bulk.Stats, priority.Stats);
        await run.Output.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"Crawling {crawl.Count} URLs of {run.Upstream} through '{bulk.Name}' (Limit {own.Limit}, QueueLimit {own.QueueLimit}) on connector '{pool.Name}' (Limit {pool.Limit}, LimitPerHost {pool.LimitPerHost}); '{priority.Name}' (Priority {checker.Priority}) checks health on it every {crawl.PriorityInterval.TotalSeconds:0.#} s."));

        // Every loop below ends with the crawl, and the crawl ends by its deadline at the latest.
        using var deadline = new CancellationTokenSource(crawl.Deadline, time);
        using var requests = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, deadline.Token);
        using var crawlDone = CancellationTokenSource.CreateLinkedTokenSource(requests.Token);

        // One request per session first, not counted: it pays for the first connection and for JIT compilation,
        // which would otherwise show as a slow priority check. It also stops early when the upstream is down.
        try
        {
            await Task.WhenAll(WarmUpAsync(bulk, requests.Token), WarmUpAsync(priority, requests.Token));
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            await run.Output.WriteLineAsync($"The upstream did not answer GET {run.Upstream}health: {ex.Message}");
            return 1;
        }

        var started = time.GetTimestamp();
        var monitor = MonitorAsync(crawl.Count, crawlDone.Token);
        var checks = CheckPriorityAsync(crawl.PriorityInterval, requests.Token, crawlDone.Token);

        // All at once, as asyncio.gather would: the connector, not this loop, decides how many run.
        var fetches = new Task[crawl.Count];
        for (var i = 0; i < fetches.Length; i++)
        {
            fetches[i] = FetchAsync(bulk, _bulk, $"item/{i + 1}", requests.Token);
        }

        await Task.WhenAll(fetches);
        var elapsed = time.GetElapsedTime(started);
        await crawlDone.CancelAsync();
        await Task.WhenAll(monitor, checks);

        var bulkReport = _bulk.Report(queueWaits.LongestOf(bulk.Name));
        var priorityReport = _priority.Report(queueWaits.LongestOf(priority.Name));
        await WriteSummaryAsync(elapsed, bulkReport, priorityReport);
        return bulkReport.Failed == 0 && priorityReport.Failed == 0 && bulkReport.Requests == crawl.Count ? 0 : 1;
    }

    private static async Task WarmUpAsync(ClientSession session, CancellationToken cancellationToken)
    {
        await using var response = await session.GetAsync("health", cancellationToken: cancellationToken);
        response.EnsureSuccessStatusCode();
        await response.ReadAsBytesAsync(cancellationToken);
    }

    /// <summary>Sends one GET and reads its body; records the latency (queue wait included) or the failure.</summary>
    private async Task FetchAsync(ClientSession session, SessionRecorder recorder, string url, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            var sending = session.GetAsync(url, cancellationToken: cancellationToken);

            // Admission runs inside the call: this request holds a slot or waits in the queue by now, so the
            // queue is at its deepest for this request here.
            recorder.Observe(session.Stats);
            await using var response = await sending;
            response.EnsureSuccessStatusCode();
            var body = await response.ReadAsBytesAsync(cancellationToken);
            recorder.Succeeded(time.GetElapsedTime(started), body.Length);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            recorder.Failed(ex);
        }
    }

    /// <summary>Checks <c>health</c> through the priority session at once and then every interval, until the crawl ends.</summary>
    private async Task CheckPriorityAsync(TimeSpan interval, CancellationToken requestToken, CancellationToken stopToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                // A check already sent finishes even when the crawl ends meanwhile: only the deadline cancels it.
                await FetchAsync(priority, _priority, "health", requestToken);
            }
            while (await timer.WaitForNextTickAsync(stopToken));
        }
        catch (OperationCanceledException) when (stopToken.IsCancellationRequested)
        {
            // The crawl is over.
        }
    }

    /// <summary>Samples both connectors and shows progress: redrawn in place on a terminal, one line a second otherwise.</summary>
    private async Task MonitorAsync(int total, CancellationToken stopToken)
    {
        var ticksPerLine = run.Interactive ? 1 : (int)(TimeSpan.FromSeconds(1) / SampleInterval);
        using var timer = new PeriodicTimer(SampleInterval, time);
        var tick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stopToken))
            {
                var line = Sample(total);
                if (++tick % ticksPerLine == 0)
                {
                    await WriteProgressAsync(line);
                }
            }
        }
        catch (OperationCanceledException) when (stopToken.IsCancellationRequested)
        {
            // The crawl is over.
        }

        await WriteProgressAsync(Sample(total));
        if (run.Interactive)
        {
            await run.Output.WriteLineAsync();
        }
    }

    private string Sample(int total)
    {
        // One snapshot of the connector: its sessions' numbers in it agree with each other.
        var pool = bulk.Connector.Stats;
        var b = pool.Sessions.First(s => s.Session == bulk.Name);
        var p = pool.Sessions.First(s => s.Session == priority.Name);
        _bulk.Observe(b);
        _priority.Observe(p);
        _connectorMaxInUse = Math.Max(_connectorMaxInUse, pool.InUse);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{bulk.Name}: {_bulk.Completed}/{total}, {b.InUse} in use, {b.Waiting} waiting | {priority.Name}: {_priority.Completed} done, {p.InUse} in use, {p.Waiting} waiting | {pool.Name}: {pool.InUse}/{pool.Limit}");
    }

    private Task WriteProgressAsync(string line)
        => run.Interactive ? run.Output.WriteAsync("\r" + line.PadRight(79)) : run.Output.WriteLineAsync(line);

    private async Task WriteSummaryAsync(TimeSpan elapsed, SessionReport bulkReport, SessionReport priorityReport)
    {
        var output = run.Output;
        var upstream = run.EmbeddedUpstream ? $"{run.Upstream} (embedded demo)" : run.Upstream.ToString();
        await output.WriteLineAsync();
        await output.WriteLineAsync("Summary (one warm-up request per session is not counted; latency includes the time in the queue)");
        await output.WriteLineAsync(Line("upstream", $"{upstream}"));
        await output.WriteLineAsync(Line("elapsed", $"{elapsed.TotalSeconds:0.00} s"));
        await output.WriteLineAsync(Line($"max in use (connector {bulk.Connector.Name})", $"{_connectorMaxInUse}"));
        foreach (var report in new[] { bulkReport, priorityReport })
        {
            var name = report.Session;
            await output.WriteLineAsync(Line($"requests ({name})", $"{report.Requests}"));
            await output.WriteLineAsync(Line($"failed ({name})", $"{report.Failed}"));
            await output.WriteLineAsync(Line($"requests/s ({name})", $"{report.Requests / elapsed.TotalSeconds:0.0}"));
            await output.WriteLineAsync(Line($"received ({name})", $"{report.Bytes / 1024.0 / 1024.0:0.0} MiB"));
            await output.WriteLineAsync(Line($"latency p50 ({name})", $"{report.P50.TotalMilliseconds:0} ms"));
            await output.WriteLineAsync(Line($"latency p99 ({name})", $"{report.P99.TotalMilliseconds:0} ms"));
            await output.WriteLineAsync(Line($"max in use ({name})", $"{report.MaxInUse}"));
            await output.WriteLineAsync(Line($"max queue depth ({name})", $"{report.MaxQueueDepth}"));
            await output.WriteLineAsync(Line($"max queue wait ({name})", $"{report.MaxQueueWait.TotalMilliseconds:0} ms"));
            if (report.FirstError is { } error)
            {
                await output.WriteLineAsync(Line($"first error ({name})", $"{error}"));
            }
        }
    }

    private static string Line(string key, FormattableString value)
        => $"  {key + ":",-33} {value.ToString(CultureInfo.InvariantCulture)}";
}
