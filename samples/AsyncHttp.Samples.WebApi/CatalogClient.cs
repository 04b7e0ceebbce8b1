namespace AsyncHttp.Samples.WebApi;

/// <summary>
/// A typed client as any ASP.NET Core app writes one, plain <see cref="HttpClient"/> code. Registered with
/// <c>AddHttpClient&lt;CatalogClient&gt;().UseClientSession("catalog")</c>, it sends through the <c>catalog</c>
/// session: its base address, headers, limits and queue (shared with <see cref="ItemsEndpoints"/>' own calls), its
/// timeouts and its drain at shutdown.
/// </summary>
internal sealed class CatalogClient(HttpClient http)
{
    public async Task<UpstreamItem> GetItemAsync(int id, CancellationToken cancellationToken)
        => await http.GetFromJsonAsync<UpstreamItem>($"item/{id}", cancellationToken)
        ?? throw new ClientPayloadException($"item/{id} returned an empty JSON document.");
}
