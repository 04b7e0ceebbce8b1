using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Response;

/// <summary>
/// Two rules for a status: <see cref="ClientResponse.EnsureSuccessStatusCode"/> follows HttpResponseMessage (2xx or
/// throw), <see cref="ClientSessionOptions.RaiseForStatus"/> follows aiohttp (throw from 400).
/// </summary>
public sealed class ClientResponseStatusTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(200)]
    [InlineData(204)]
    [InlineData(299)]
    public async Task EnsureSuccessStatusCode_2xx_ReturnsTheResponse(int status)
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url($"status/{status}"));

        Assert.Same(response, response.EnsureSuccessStatusCode());
        Assert.True(response.IsSuccessStatusCode);
    }

    [Theory]
    [InlineData(304)]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(503)]
    public async Task EnsureSuccessStatusCode_Not2xx_ThrowsResponseStatusException(int status)
    {
        await using var session = new ClientSession();
        await using (var response = await session.GetAsync(_server.Url($"status/{status}")))
        {
            var error = Assert.Throws<ResponseStatusException>(() => response.EnsureSuccessStatusCode());

            Assert.Equal(status, (int)error.StatusCode!);
            Assert.Equal(HttpMethod.Get, error.Method);
            Assert.EndsWith($"/status/{status}", error.RequestUri.AbsolutePath, StringComparison.Ordinal);
            Assert.False(response.IsSuccessStatusCode);
        }

        // The throw does not release; the dispose does.
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task EnsureSuccessStatusCode_RedirectNotFollowed_ThrowsWhileRaiseForStatusPasses()
    {
        await using var session = new ClientSession(new ClientSessionOptions { RaiseForStatus = true });
        var options = new RequestOptions { AllowRedirects = false };

        // RaiseForStatus (aiohttp's rule, >= 400) lets a 302 through...
        await using var response = await session.GetAsync(_server.Url("redirect?to=/ok&status=302"), options);
        Assert.Equal(302, response.Status);

        // ... while EnsureSuccessStatusCode (HttpResponseMessage's rule, 2xx) does not.
        var error = Assert.Throws<ResponseStatusException>(() => response.EnsureSuccessStatusCode());
        Assert.Equal(302, (int)error.StatusCode!);
    }

    [Fact]
    public async Task RaiseForStatus_304_DoesNotThrow()
    {
        await using var session = new ClientSession(new ClientSessionOptions { RaiseForStatus = true });

        await using var response = await session.GetAsync(_server.Url("status/304"));

        Assert.Equal(304, response.Status);
        Assert.Throws<ResponseStatusException>(() => response.EnsureSuccessStatusCode());
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(500)]
    public async Task RaiseForStatus_400OrAbove_ThrowsFromTheCallAndReleases(int status)
    {
        await using var session = new ClientSession(new ClientSessionOptions { RaiseForStatus = true });

        var error = await Assert.ThrowsAsync<ResponseStatusException>(() => session.GetAsync(_server.Url($"status/{status}")));

        Assert.Equal(status, (int)error.StatusCode!);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task RaiseForStatus_PerRequest_OverridesTheSession()
    {
        await using var session = new ClientSession();

        await Assert.ThrowsAsync<ResponseStatusException>(
            () => session.GetAsync(_server.Url("status/404"), new RequestOptions { RaiseForStatus = true }));
        await using var passed = await session.GetAsync(_server.Url("status/404"));

        Assert.Equal(404, passed.Status);
    }
}
