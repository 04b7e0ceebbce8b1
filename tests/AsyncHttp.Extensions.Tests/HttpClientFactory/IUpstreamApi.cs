using Refit;

namespace AsyncHttp.Extensions.Tests.HttpClientFactory;

/// <summary>A Refit interface over the test upstream.</summary>
public interface IUpstreamApi
{
    [Get("/slot/{id}")]
    Task<string> SlotAsync(string id);

    [Get("/big/{size}")]
    Task<Stream> BigAsync(int size);
}
