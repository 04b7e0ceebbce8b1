using System.Net;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Cookies;

/// <summary>One jar per session on CookieContainer: stored, sent back by domain and path, refused from IP hosts.</summary>
public sealed class CookieJarTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    // Cookies are refused from IP-address hosts by default, so these tests talk to the server as "localhost".
    private Uri Local(string pathAndQuery) => new(new UriBuilder(_server.BaseAddress) { Host = "localhost" }.Uri, pathAndQuery);

    private static async Task<string> GetTextAsync(ClientSession session, Uri url, RequestOptions? options = null)
    {
        await using var response = await session.GetAsync(url, options);
        return await response.ReadAsStringAsync();
    }

    [Fact]
    public async Task Cookies_SetByAResponse_AreSentBackByPath()
    {
        await using var session = new ClientSession();

        await GetTextAsync(session, Local("setcookie?cookie=" + Uri.EscapeDataString("root=1; Path=/")));
        await GetTextAsync(session, Local("setcookie?cookie=" + Uri.EscapeDataString("scoped=2; Path=/cookies/a")));

        Assert.Equal("root=1", await GetTextAsync(session, Local("cookies/b")));
        var both = await GetTextAsync(session, Local("cookies/a/x"));
        Assert.Contains("root=1", both, StringComparison.Ordinal);
        Assert.Contains("scoped=2", both, StringComparison.Ordinal);
        Assert.Equal(2, session.Cookies.GetAllCookies().Count);
    }

    [Fact]
    public async Task Cookies_Secure_AreNotSentOverHttp()
    {
        await using var session = new ClientSession();
        session.Cookies.Add(Local("/"), new Cookie("tls", "only", "/") { Secure = true });
        session.Cookies.Add(Local("/"), new Cookie("plain", "ok", "/"));

        Assert.Equal("plain=ok", await GetTextAsync(session, Local("cookies/")));
        Assert.Equal(2, session.Cookies.GetCookies(new UriBuilder(Local("/")) { Scheme = "https" }.Uri).Count);
    }

    [Fact]
    public async Task Cookies_FromAnIpAddressHost_AreRefusedUnlessUnsafeCookies()
    {
        await using var safe = new ClientSession();
        await using var @unsafe = new ClientSession(new ClientSessionOptions { UnsafeCookies = true });
        var set = _server.Url("setcookie?cookie=ip%3D1");

        await GetTextAsync(safe, set);
        await GetTextAsync(@unsafe, set);

        Assert.Equal(0, safe.Cookies.Count);
        Assert.Equal(1, @unsafe.Cookies.Count);
        Assert.Equal("ip=1", await GetTextAsync(@unsafe, _server.Url("cookies/")));
    }

    [Fact]
    public async Task Cookies_PerRequest_AreSentButNotStored()
    {
        await using var session = new ClientSession();

        var sent = await GetTextAsync(session, Local("cookies/"), new RequestOptions { Cookies = new Dictionary<string, string> { ["once"] = "1" } });

        Assert.Equal("once=1", sent);
        Assert.Equal(0, session.Cookies.Count);
        Assert.Equal(string.Empty, await GetTextAsync(session, Local("cookies/")));
    }

    [Fact]
    public async Task Cookies_PerRequestInvalid_IsRejectedBeforeAnythingIsSentOrHeld()
    {
        await using var session = new ClientSession();
        var arrivals = _server.Arrivals.Count;

        // Thrown by the call itself, before a task exists.
        var error = Assert.Throws<ArgumentException>(() =>
        {
            _ = session.GetAsync(Local("cookies/"), new RequestOptions { Cookies = new Dictionary<string, string> { ["bad"] = "a;b" } });
        });

        Assert.Contains("'bad'", error.Message, StringComparison.Ordinal);
        Assert.Equal(arrivals, _server.Arrivals.Count);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.Equal("once=1", await GetTextAsync(session, Local("cookies/"), new RequestOptions { Cookies = new Dictionary<string, string> { ["once"] = "1" } }));
    }

    [Fact]
    public async Task Cookies_Clear_EmptiesTheJar()
    {
        await using var session = new ClientSession();
        await GetTextAsync(session, Local("setcookie?cookie=a%3D1"));
        Assert.Equal(1, session.Cookies.Count);

        session.Cookies.Clear();

        Assert.Equal(0, session.Cookies.Count);
        Assert.Equal(string.Empty, await GetTextAsync(session, Local("cookies/")));
    }

    [Fact]
    public async Task UseCookies_False_NeitherStoresNorSends()
    {
        await using var session = new ClientSession(new ClientSessionOptions { UseCookies = false });

        await GetTextAsync(session, Local("setcookie?cookie=a%3D1"));

        Assert.Equal(0, session.Cookies.Count);
        Assert.Equal(string.Empty, await GetTextAsync(session, Local("cookies/")));
    }
}
