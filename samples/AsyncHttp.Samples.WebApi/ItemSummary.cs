namespace AsyncHttp.Samples.WebApi;

/// <summary>One item in the aggregate.</summary>
internal sealed record ItemSummary(int Id, int Size, int LatencyMs);
