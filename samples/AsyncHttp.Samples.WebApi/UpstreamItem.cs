namespace AsyncHttp.Samples.WebApi;

/// <summary>What the upstream's <c>item/{id}</c> returns (its <c>data</c> padding is skipped).</summary>
internal sealed record UpstreamItem(int Id, int LatencyMs, int Size);
