namespace AsyncHttp.Samples.WebApi;

/// <summary>The answer of <c>GET /items</c>.</summary>
internal sealed record ItemsAggregate(int Count, long TotalBytes, int SlowestUpstreamMs, ItemSummary[] Items);
