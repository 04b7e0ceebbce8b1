using System.Text.Json;
using System.Text.Json.Serialization;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Requests;

public sealed record Order(string Name, int Count);

[JsonSerializable(typeof(Order))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
public sealed partial class TestJsonContext : JsonSerializerContext;

/// <summary>Request bodies of every usual kind, and query parameters merged with the URL's own.</summary>
public sealed class RequestBodyTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async Task<string> TextAsync(Task<ClientResponse> request)
    {
        await using var response = await request;
        return await response.ReadAsStringAsync();
    }

    [Fact]
    public async Task PostAsJsonAsync_WithJsonTypeInfo_SendsJson()
    {
        await using var session = new ClientSession();

        var echoed = await TextAsync(session.PostAsJsonAsync(_server.Url("method").AbsoluteUri, new Order("tea", 2), TestJsonContext.Default.Order));

        Assert.Equal("""POST application/json; charset=utf-8 {"name":"tea","count":2}""", echoed);
    }

    [Fact]
    public async Task PutAsJsonAsync_SendsJsonWithPut()
    {
        await using var session = new ClientSession();

        var echoed = await TextAsync(session.PutAsJsonAsync(_server.Url("method").AbsoluteUri, new Order("x", 1), TestJsonContext.Default.Order));

        Assert.StartsWith("PUT application/json", echoed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostAsync_UrlEncodedForm_IsSentEncoded()
    {
        await using var session = new ClientSession();

        var echoed = await TextAsync(session.PostAsync(_server.Url("method").AbsoluteUri,
            new FormUrlEncodedContent([new("q", "a b&c"), new("n", "1")])));

        Assert.Equal("POST application/x-www-form-urlencoded q=a+b%26c&n=1", echoed);
    }

    [Fact]
    public async Task PostAsync_MultipartForm_IsSent()
    {
        await using var session = new ClientSession();
        using var form = new MultipartFormDataContent("boundary42")
        {
            { new StringContent("value"), "field" },
            { new ByteArrayContent([1, 2, 3]), "file", "data.bin" },
        };

        var echoed = await TextAsync(session.PostAsync(_server.Url("method").AbsoluteUri, form));

        Assert.StartsWith("POST multipart/form-data; boundary=", echoed, StringComparison.Ordinal);
        Assert.Contains("name=field", echoed, StringComparison.Ordinal);
        Assert.Contains("filename=data.bin", echoed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostAsync_BytesAndStream_AreSent()
    {
        await using var session = new ClientSession();

        var bytes = await TextAsync(session.PostAsync(_server.Url("method").AbsoluteUri, new ByteArrayContent("raw"u8.ToArray())));
        var stream = await TextAsync(session.PostAsync(_server.Url("method").AbsoluteUri, new StreamContent(new MemoryStream("streamed"u8.ToArray()))));

        Assert.EndsWith(" raw", bytes, StringComparison.Ordinal);
        Assert.EndsWith(" streamed", stream, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_IsMergedWithTheUrlsOwnAndEscaped()
    {
        await using var session = new ClientSession(new ClientSessionOptions { BaseAddress = _server.Url("echo/") });

        var echoed = await TextAsync(session.GetAsync("search?a=1", new RequestOptions { Query = [new("q", "x y"), new("flag", null)] }));

        Assert.Equal("/echo/search?a=1&q=x%20y&flag", echoed);
    }
}
