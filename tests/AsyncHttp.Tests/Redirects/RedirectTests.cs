using System.Net;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Redirects;

/// <summary>Redirects are followed by the session, hop by hop, each hop through admission.</summary>
public sealed class RedirectTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private TestServer _other = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _other = await TestServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _other.DisposeAsync();
    }

    [Fact]
    public async Task Redirects_Chain_AreFollowedWithHistory_AndEachHopReleasesItsSlot()
    {
        // With a limit of one, a hop that kept its slot would deadlock the next one.
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        await using var response = await session.GetAsync(_server.Url("chain/3")).WaitAsync(TestServer.Patience);

        Assert.Equal("end", await response.ReadAsStringAsync());
        Assert.Equal(_server.Url("chain/0"), response.Url);
        Assert.Equal(["/chain/3", "/chain/2", "/chain/1"], response.History.Select(h => h.Url.AbsolutePath));
        Assert.All(response.History, h => Assert.Equal(HttpStatusCode.Found, h.StatusCode));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task MaxRedirects_Exceeded_ThrowsTooManyRedirectsCarryingTheHops()
    {
        await using var session = new ClientSession(new ClientSessionOptions { MaxRedirects = 2 });

        var error = await Assert.ThrowsAsync<TooManyRedirectsException>(() => session.GetAsync(_server.Url("chain/5")));

        Assert.Equal(2, error.MaxRedirects);
        Assert.Equal(3, error.Hops.Count);
        Assert.Equal(_server.Url("chain/2"), error.Hops[^1].Location);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task MaxRedirects_Default_IsTen()
    {
        await using var session = new ClientSession();

        await using (var ten = await session.GetAsync(_server.Url("chain/10")))
        {
            Assert.Equal(10, ten.History.Count);
        }

        await Assert.ThrowsAsync<TooManyRedirectsException>(() => session.GetAsync(_server.Url("chain/11")));
    }

    [Fact]
    public async Task AllowRedirects_False_ReturnsTheRedirectItself()
    {
        await using var session = new ClientSession();

        await using var response = await session.GetAsync(_server.Url("chain/1"), new RequestOptions { AllowRedirects = false });

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Empty(response.History);
    }

    [Theory]
    [InlineData(301, "POST", "GET  ")]
    [InlineData(302, "POST", "GET  ")]
    [InlineData(303, "POST", "GET  ")]
    [InlineData(303, "PUT", "GET  ")]
    [InlineData(307, "POST", "POST text/plain; charset=utf-8 payload")]
    [InlineData(308, "PUT", "PUT text/plain; charset=utf-8 payload")]
    public async Task Redirect_MethodAndBody_FollowTheStatusRules(int status, string method, string expected)
    {
        await using var session = new ClientSession();

        await using var response = await session.SendAsync(
            new HttpMethod(method),
            _server.Url($"redirect?status={status}&to=/method"),
            new StringContent("payload"));

        Assert.Equal(expected, await response.ReadAsStringAsync());
    }

    [Fact]
    public async Task Redirect_CrossOrigin_DropsCredentials_SameOriginKeepsThem()
    {
        var options = new ClientSessionOptions();
        options.Headers["Authorization"] = "Bearer secret";
        options.Headers["Proxy-Authorization"] = "Basic secret";
        options.Headers["X-Keep"] = "kept";
        await using var session = new ClientSession(options);

        await using (var same = await session.GetAsync(_server.Url($"redirect?to={Uri.EscapeDataString(_server.Url("headers").AbsoluteUri)}"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["Cookie"] = "sid=1" } }))
        {
            var headers = await same.ReadAsStringAsync();
            Assert.Contains("Authorization: Bearer secret", headers, StringComparison.Ordinal);
            Assert.Contains("Cookie: sid=1", headers, StringComparison.Ordinal);
        }

        await using var cross = await session.GetAsync(_server.Url($"redirect?to={Uri.EscapeDataString(_other.Url("headers").AbsoluteUri)}"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["Cookie"] = "sid=1" } });
        var crossHeaders = await cross.ReadAsStringAsync();
        Assert.DoesNotContain("secret", crossHeaders, StringComparison.Ordinal);
        Assert.DoesNotContain("sid=1", crossHeaders, StringComparison.Ordinal);
        Assert.Contains("X-Keep: kept", crossHeaders, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Redirect_CookieSetByAnIntermediateHop_IsStoredAndSentOnTheNext()
    {
        await using var session = new ClientSession();
        var localhost = new UriBuilder(_server.BaseAddress) { Host = "localhost" }.Uri;

        await using var response = await session.GetAsync(new Uri(localhost, "redirect?to=/cookies/&cookie=hop%3Dyes%3B%20Path%3D%2F"));

        Assert.Equal("hop=yes", await response.ReadAsStringAsync());
        Assert.Single(response.History);
        Assert.Equal(1, session.Cookies.Count);
    }
}
