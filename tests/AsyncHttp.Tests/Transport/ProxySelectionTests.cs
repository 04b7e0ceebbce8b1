using AsyncHttp.Internal;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// Which proxy a request goes through: the connector's <see cref="ConnectorOptions.Proxy"/> for every request, or the
/// environment's (TrustEnv) per scheme with <c>NO_PROXY</c>; a proxy that cannot be used is refused by validation, or
/// ignored from the environment and logged, its credentials shown nowhere.
/// </summary>
public sealed class ProxySelectionTests
{
    private static ProxySelection? FromEnvironment(params (string Name, string Value)[] variables)
    {
        var environment = variables.ToDictionary(v => v.Name, v => v.Value);
        return ProxySelection.FromEnvironment(name => environment.GetValueOrDefault(name));
    }

    private static string? Via(ProxySelection? proxies, string url) => proxies?.RouteFor(new Uri(url))?.Name;

    [Fact]
    public void From_ExplicitProxy_EveryRequestGoesThroughIt_ItsCredentialsBecomeBasic()
    {
        var settings = TransportSettings.From(new ConnectorOptions { Proxy = new Uri("http://us%40er:p%3Ass@proxy.test:3128"), TrustEnv = true });

        var proxies = ProxySelection.From(settings);

        var route = proxies!.RouteFor(new Uri("https://api.test/"))!;
        Assert.Equal("http://proxy.test:3128", route.Name);
        Assert.Equal("Basic " + Convert.ToBase64String("us@er:p:ss"u8.ToArray()), route.Authorization);
        Assert.Equal(new Uri("http://proxy.test:3128/"), route.Address);
        Assert.Equal("http://proxy.test:3128", route.ToString());
        Assert.Equal("http://proxy.test:3128", Via(proxies, "http://localhost/"));
        Assert.True(proxies.HasCredentials);
    }

    [Fact]
    public void From_NoProxyAndNoTrust_IsNone()
    {
        Assert.Null(ProxySelection.From(TransportSettings.From(new ConnectorOptions())));
        Assert.Null(ProxySelection.From(TransportSettings.From(new ConnectorOptions { Environment = _ => "http://proxy.test:3128" })));
    }

    [Fact]
    public void FromEnvironment_PerScheme_LowerCaseFirst_SchemeLessIsHttp()
    {
        var proxies = FromEnvironment(("HTTP_PROXY", "http://upper.test:1"), ("http_proxy", "lower.test:2"), ("HTTPS_PROXY", "http://secure.test:3"));

        Assert.Equal("http://lower.test:2", Via(proxies, "http://a.test/"));
        Assert.Equal("http://secure.test:3", Via(proxies, "https://a.test/"));
        Assert.Empty(proxies!.Ignored);
    }

    [Fact]
    public void FromEnvironment_UnusableProxies_AreIgnoredAndListed_WithoutCredentials()
    {
        var proxies = FromEnvironment(("HTTPS_PROXY", "https://user:s3cr3t@secure.test:3"), ("HTTP_PROXY", "socks5://user:s3cr3t@socks.test:1080"));

        Assert.Null(Via(proxies, "https://a.test/"));
        Assert.Null(Via(proxies, "http://a.test/"));
        Assert.Equal(2, proxies!.Ignored.Count);
        Assert.All(proxies.Ignored, reason => Assert.DoesNotContain("s3cr3t", reason, StringComparison.Ordinal));
        Assert.Contains(proxies.Ignored, reason => reason.StartsWith("HTTPS_PROXY: must be an absolute http:// URL", StringComparison.Ordinal));
    }

    [Fact]
    public void FromEnvironment_Nothing_IsNone() => Assert.Null(FromEnvironment(("NO_PROXY", "*")));

    [Theory]
    [InlineData("example.test", "http://example.test/", true)]
    [InlineData("example.test", "http://www.example.test/", true)]
    [InlineData("example.test", "http://notexample.test/", false)]
    [InlineData(".example.test", "http://www.example.test/", true)]
    [InlineData(".example.test", "http://example.test/", true)]
    [InlineData("*.example.test", "http://a.b.example.test/", true)]
    [InlineData("EXAMPLE.test", "http://Example.TEST/", true)]
    [InlineData("example.test:8080", "http://example.test:8080/", true)]
    [InlineData("example.test:8080", "http://example.test:9090/", false)]
    [InlineData("127.0.0.1", "http://127.0.0.1:5000/", true)]
    [InlineData("10.0.0.0/8", "http://10.1.2.3/", true)]
    [InlineData("10.0.0.0/8", "http://11.1.2.3/", false)]
    [InlineData("::1", "http://[::1]:8080/", true)]
    [InlineData("[::1]:8080", "http://[::1]:8080/", true)]
    [InlineData("[::1]:8080", "http://[::1]:9090/", false)]
    [InlineData("fd00::/8", "http://[fd12::1]/", true)]
    [InlineData("other.test, *", "http://anything.test/", true)]
    [InlineData(" , other.test ,", "http://example.test/", false)]
    public void NoProxy_Matches(string noProxy, string url, bool bypassed)
    {
        var proxies = FromEnvironment(("HTTP_PROXY", "http://proxy.test:3128"), ("NO_PROXY", noProxy));

        Assert.Equal(bypassed, Via(proxies, url) is null);
        Assert.Equal(bypassed, proxies!.IsBypassed(new Uri(url)));
    }

    [Fact]
    public void Handler_SeesTheProxyOfHttpUrlsOnly_HttpsTunnelsInTheConnectCallback()
    {
        var proxies = ProxySelection.From(TransportSettings.From(new ConnectorOptions { Proxy = new Uri("http://u:p@proxy.test:3128") }))!;
        System.Net.IWebProxy handler = proxies;

        Assert.Equal(new Uri("http://proxy.test:3128/"), handler.GetProxy(new Uri("http://a.test/")));
        Assert.Null(handler.GetProxy(new Uri("https://a.test/")));
        Assert.True(handler.IsBypassed(new Uri("https://a.test/")));

        // Never the credentials to the handler: they go with each request, at once.
        Assert.Null(handler.Credentials);
    }

    [Theory]
    [InlineData("http://proxy.test:3128", null)]
    [InlineData("http://user:pass@proxy.test:3128", null)]
    [InlineData("https://proxy.test:3128", "must be an absolute http:// URL")]
    [InlineData("socks5://proxy.test:1080", "must be an absolute http:// URL")]
    [InlineData("http://us%3Aer:pass@proxy.test:3128", "has a user name with ':'")]
    public void Validate_Proxy(string proxy, string? problem)
    {
        var errors = new ConnectorOptions { Proxy = new Uri(proxy) }.Validate();

        if (problem is null)
        {
            Assert.Empty(errors);
        }
        else
        {
            var error = Assert.Single(errors);
            Assert.StartsWith("Proxy " + problem, error, StringComparison.Ordinal);
            Assert.DoesNotContain("pass", error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("1.0", null)]
    [InlineData("1.1", null)]
    [InlineData("2.0", null)]
    [InlineData("3.0", "Version 3.0 (HTTP/3) is not supported yet")]
    [InlineData("2.1", "Version must be 1.0, 1.1 or 2.0; it is 2.1.")]
    public void Validate_Version(string version, string? problem)
    {
        var errors = new ClientSessionOptions { Version = Version.Parse(version) }.Validate();

        Assert.Equal(problem is null ? 0 : 1, errors.Count);
        if (problem is not null)
        {
            Assert.StartsWith(problem, errors[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_NegativeHappyEyeballsDelay_AndAnUnknownPolicy_AreRefused()
    {
        var errors = new ConnectorOptions { HappyEyeballsDelay = TimeSpan.FromMilliseconds(-1), VersionPolicy = (HttpVersionPolicy)7 }.Validate();

        Assert.Equal(["VersionPolicy", "HappyEyeballsDelay"], errors.Select(e => e[..e.IndexOf(' ', StringComparison.Ordinal)]));
        Assert.Empty(new ConnectorOptions { HappyEyeballsDelay = null }.Validate());
    }
}
