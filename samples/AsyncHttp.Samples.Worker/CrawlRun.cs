namespace AsyncHttp.Samples.Worker;

/// <summary>What one run of the worker shares between <see cref="WorkerApp"/> and <see cref="CrawlService"/>.</summary>
/// <param name="Output">Where progress and the summary go.</param>
/// <param name="Interactive">True on a terminal: progress is redrawn in place with <c>\r</c>.</param>
/// <param name="Upstream">The server crawled.</param>
/// <param name="EmbeddedUpstream">True when the upstream is the embedded demo one.</param>
internal sealed record CrawlRun(TextWriter Output, bool Interactive, Uri Upstream, bool EmbeddedUpstream)
{
    /// <summary>The process exit code; 1 until a crawl completes without a failure.</summary>
    public int ExitCode { get; set; } = 1;
}
