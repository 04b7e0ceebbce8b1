namespace AsyncHttp.Samples.Worker;

/// <summary>The numbers of one session at the end of the crawl.</summary>
internal sealed record SessionReport(
    string Session,
    int Requests,
    int Failed,
    long Bytes,
    TimeSpan P50,
    TimeSpan P99,
    int MaxInUse,
    int MaxQueueDepth,
    TimeSpan MaxQueueWait,
    string? FirstError);
