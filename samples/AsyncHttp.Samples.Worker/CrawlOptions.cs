namespace AsyncHttp.Samples.Worker;

/// <summary>The crawl's settings, from the <c>Crawl</c> section of <c>appsettings.json</c> and the command line.</summary>
internal sealed class CrawlOptions
{
    public const string SectionName = "Crawl";

    /// <summary>The server to crawl (<c>--upstream</c>); empty starts the embedded demo upstream.</summary>
    public string? Upstream { get; set; }

    /// <summary>How many URLs (<c>item/1</c> to <c>item/{Count}</c>) go through the <c>bulk</c> session (<c>--count</c>).</summary>
    public int Count { get; set; } = 600;

    /// <summary>How often the <c>priority</c> session checks <c>health</c> while the crawl runs.</summary>
    public TimeSpan PriorityInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest the crawl may take; what is left then is cancelled and counted as failed.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromMinutes(1);

    public bool IsValid()
        => Count is > 0 and <= 100_000 && PriorityInterval > TimeSpan.Zero && Deadline > TimeSpan.Zero;
}
