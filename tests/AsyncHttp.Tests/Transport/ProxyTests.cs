using System.Net;
using System.Net.Sockets;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Transport;

/// <summary>The origins and the two tinyproxies of <see cref="ProxyTests"/>, started once for the class.</summary>
public sealed class ProxyFixture : IAsyncLifetime
{
    public const string User = "proxy-user";
    public const string Password = "s3cr3t-proxy";

    public TestServer HttpA { get; private set; } = null!;

    public TestServer HttpB { get; private set; } = null!;

    public TestServer Tls { get; private set; } = null!;

    /// <summary>A proxy without authentication; CONNECT to <see cref="Tls"/> only.</summary>
    public TinyProxy Open { get; private set; } = null!;

    /// <summary>A proxy that requires <see cref="User"/> and <see cref="Password"/>; CONNECT to <see cref="Tls"/> only.</summary>
    public TinyProxy Guarded { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        HttpA = await TestServer.StartAsync();
        HttpB = await TestServer.StartAsync();
        Tls = await TestServer.StartAsync(protocol: ServerProtocol.Tls);
        Open = await TinyProxy.StartAsync([Tls.BaseAddress.Port]);
        Guarded = await TinyProxy.StartAsync([Tls.BaseAddress.Port], User, Password);
    }

    public async Task DisposeAsync()
    {
        await Guarded.DisposeAsync();
        await Open.DisposeAsync();
        await Tls.DisposeAsync();
        await HttpB.DisposeAsync();
        await HttpA.DisposeAsync();
    }
}

/// <summary>
/// Requests through a real forward proxy, Debian's tinyproxy: to http URLs the proxy forwards the request (its
/// connections are the proxy's, and per-host limits count requests per origin), to https URLs a CONNECT tunnel carries
/// the connection to the origin (a slot is a connection, per origin, as without a proxy); the proxy is part of the
/// host key; credentials go preemptively and show nowhere; the environment is read per session with TrustEnv.
/// </summary>
public sealed class ProxyTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private static ClientSession Session(Uri? proxy, int limit = 100, int limitPerHost = 0, CapturingLoggerProvider? logs = null, Version? version = null)
        => new("proxied", new ClientSessionOptions
        {
            Proxy = proxy,
            Limit = limit,
            LimitPerHost = limitPerHost,
            DangerousAcceptAnyServerCertificate = true,
            Version = version ?? HttpVersion.Version11,
        }, loggerFactory: logs);

    private static string Name(TinyProxy proxy) => $"http://{proxy.Url.Authority}";

    [Fact]
    public async Task PlainHttp_PerHostLimitsCountRequestsPerOrigin_TheConnectionsAreTheProxys()
    {
        await using var session = Session(fixture.Open.Url, limit: 3, limitPerHost: 1);
        var a = session.GetAsync(fixture.HttpA.Url("hold?id=pa1"));
        var b = session.GetAsync(fixture.HttpB.Url("hold?id=pb1"));
        var a2 = session.GetAsync(fixture.HttpA.Url("hold?id=pa2"));

        // LimitPerHost 1 holds the second request to A back, while one to each origin is on the wire: two
        // connections to the proxy, although each origin's limit is 1 (the proxy's connections serve every origin).
        await fixture.HttpA.WhenArrived("pa1");
        await fixture.HttpB.WhenArrived("pb1");
        var stats = session.Connector.Stats;
        Assert.Equal((2, 1), (stats.InUse, stats.Waiting));
        var proxy = Name(fixture.Open);
        var hostA = Assert.Single(stats.Hosts, h => h.Port == fixture.HttpA.BaseAddress.Port);
        Assert.Equal((1, 1, proxy), (hostA.InUse, hostA.Waiting, hostA.Proxy));
        Assert.Equal(0, hostA.OpenConnections);
        var viaProxy = Assert.Single(stats.Hosts, h => h.Host == proxy);
        Assert.Equal((0, 2, proxy), (viaProxy.InUse, viaProxy.OpenConnections, viaProxy.Proxy));

        fixture.HttpA.Open("pa1");
        fixture.HttpB.Open("pb1");
        fixture.HttpA.Open("pa2");
        foreach (var request in new[] { a, b, a2 })
        {
            await using var response = await request.WaitAsync(TestServer.Patience);
            Assert.StartsWith("done:", await response.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await fixture.Open.WhenRequested($"GET {fixture.HttpA.Url("hold?id=pa2")} HTTP/1.1");
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task Https_ThroughAConnectTunnel_AConnectionPerOrigin_ReusedLikeADirectOne()
    {
        await using var session = Session(fixture.Open.Url);
        var accepted = fixture.Tls.AcceptedConnections;
        for (var i = 0; i < 3; i++)
        {
            await using var response = await session.GetAsync(fixture.Tls.Url("protocol"));
            Assert.Equal("HTTP/1.1", await response.ReadAsStringAsync());
        }

        // One tunnel, reused: one CONNECT, one connection at the origin, counted under the origin and the proxy.
        await fixture.Open.WhenRequested($"CONNECT 127.0.0.1:{fixture.Tls.BaseAddress.Port} HTTP/1.1");
        Assert.Equal(accepted + 1, fixture.Tls.AcceptedConnections);
        var stats = session.Connector.Stats;
        Assert.Equal(1, stats.ConnectionsOpened);
        var origin = Assert.Single(stats.Hosts);
        Assert.Equal(("https", fixture.Tls.BaseAddress.Port, Name(fixture.Open), 1), (origin.Scheme, origin.Port, origin.Proxy, origin.OpenConnections));
    }

    [Fact]
    public async Task Https_Http2ThroughTheTunnel_NegotiatesH2WithTheOrigin()
    {
        await using var session = Session(fixture.Open.Url, version: HttpVersion.Version20);

        await using var response = await session.GetAsync(fixture.Tls.Url("protocol"));

        Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
    }

    [Fact]
    public async Task Https_TunnelRefusedByTheProxy_FailsWithClientConnectorExceptionNamingTheProxy()
    {
        // tinyproxy allows CONNECT to the TLS origin's port only.
        await using var session = Session(fixture.Open.Url);

        var error = await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync(new Uri($"https://127.0.0.1:{fixture.HttpA.BaseAddress.Port}/ok").ToString()));

        Assert.Contains($"Proxy {Name(fixture.Open)} refused the tunnel", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("403", error.ToString(), StringComparison.Ordinal);
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 0), (stats.InUse, stats.Waiting, stats.OpenConnections));
    }

    [Fact]
    public async Task Credentials_SentAtOnce_AndShownNowhere()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = Session(fixture.Guarded.UrlWith(ProxyFixture.User, ProxyFixture.Password), logs: logs);

        // Plain HTTP: the proxy takes the credentials and does not pass them on; the caller's message does not keep them.
        using var client = new HttpClient(session.CreateHandler());
        using var plain = await client.GetAsync(fixture.HttpA.Url("headers"));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.DoesNotContain("Proxy-Authorization", await plain.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.False(plain.RequestMessage!.Headers.Contains("Proxy-Authorization"));

        // A tunnel: the credentials go with the CONNECT.
        await using (var tunneled = await session.GetAsync(fixture.Tls.Url("ok")))
        {
            Assert.Equal("hello", await tunneled.ReadAsStringAsync());
        }

        var stats = session.Connector.Stats;
        Assert.All(stats.Hosts, h => Assert.Equal(Name(fixture.Guarded), h.Proxy));
        Assert.DoesNotContain(ProxyFixture.Password, stats.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyFixture.Password, string.Join('\n', stats.Hosts), StringComparison.Ordinal);
        Assert.All(logs.Entries, e => Assert.DoesNotContain(ProxyFixture.Password, e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Credentials_Missing_PlainHttpSees407_ATunnelFailsSayingSoWithoutSecrets()
    {
        var logs = new CapturingLoggerProvider();
        await using var anonymous = Session(fixture.Guarded.Url, logs: logs);
        await using (var response = await anonymous.GetAsync(fixture.HttpA.Url("ok")))
        {
            Assert.Equal(407, response.Status);
        }

        var missing = await Assert.ThrowsAsync<ClientConnectorException>(() => anonymous.GetAsync(fixture.Tls.Url("ok").ToString()));
        Assert.Contains("407", missing.Message, StringComparison.Ordinal);
        Assert.Contains("give them as the user info of Proxy", missing.Message, StringComparison.Ordinal);

        await using var wrong = Session(fixture.Guarded.UrlWith(ProxyFixture.User, "wrong-" + ProxyFixture.Password), logs: logs);
        var refused = await Assert.ThrowsAsync<ClientConnectorException>(() => wrong.GetAsync(fixture.Tls.Url("ok").ToString()));
        Assert.Contains("refused the credentials", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyFixture.Password, refused.ToString(), StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 1009);
        Assert.All(logs.Entries, e => Assert.DoesNotContain(ProxyFixture.Password, e.Message, StringComparison.Ordinal));
        Assert.Equal((0, 0), (wrong.Connector.Stats.InUse, wrong.Connector.Stats.Waiting));
    }

    [Theory]
    [InlineData("http")]
    [InlineData("https")]
    public async Task ProxyUnreachable_FailsWithClientConnectorExceptionNamingItWithoutCredentials(string scheme)
    {
        var logs = new CapturingLoggerProvider();
        var port = LoopbackSockets.ClosedPort();
        await using var session = Session(new Uri($"http://{ProxyFixture.User}:{ProxyFixture.Password}@127.0.0.1:{port}"), logs: logs);
        var url = scheme == "http" ? fixture.HttpA.Url("ok") : fixture.Tls.Url("ok");

        var error = await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync(url));

        Assert.Contains($"via http://127.0.0.1:{port}", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyFixture.Password, error.ToString(), StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 1009 && e.Message.Contains($"via http://127.0.0.1:{port}", StringComparison.Ordinal));
        Assert.All(logs.Entries, e => Assert.DoesNotContain(ProxyFixture.Password, e.Message, StringComparison.Ordinal));
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 0), (stats.InUse, stats.Waiting, stats.OpenConnections));
    }

    [Fact]
    public async Task TrustEnv_ReadsTheEnvironmentPerConnector_NoProxyGoesDirect_OffByDefault()
    {
        var environment = new Dictionary<string, string?>
        {
            ["HTTP_PROXY"] = fixture.Open.Url.ToString(),
            ["NO_PROXY"] = "localhost,example.test",
        };
        await using var trusting = new Connector("env", new ConnectorOptions { TrustEnv = true, Environment = name => environment.GetValueOrDefault(name) });
        await using (var session = new ClientSession("env", trusting))
        {
            await using var response = await session.GetAsync(fixture.HttpA.Url("echo/env-proxied"));
            Assert.Equal("/echo/env-proxied", await response.ReadAsStringAsync());

            // Its connection is the proxy's (the origin's entry, idle now, is not listed).
            var host = Assert.Single(session.Connector.Stats.Hosts);
            Assert.Equal((Name(fixture.Open), Name(fixture.Open)), (host.Host, host.Proxy));
        }

        await fixture.Open.WhenRequested("/echo/env-proxied");

        // NO_PROXY names 127.0.0.1: direct. TrustEnv off (the default): the same environment is ignored.
        environment["NO_PROXY"] = "localhost,127.0.0.1";
        await using var bypassing = new Connector("env-bypass", new ConnectorOptions { TrustEnv = true, Environment = name => environment.GetValueOrDefault(name) });
        await using var ignoring = new Connector("env-off", new ConnectorOptions { Environment = name => environment.GetValueOrDefault(name) });
        foreach (var connector in new[] { bypassing, ignoring })
        {
            await using var session = new ClientSession(connector.Name, connector);
            await using var response = await session.GetAsync(fixture.HttpA.Url($"echo/{connector.Name}"));
            Assert.Equal($"/echo/{connector.Name}", await response.ReadAsStringAsync());
            var host = Assert.Single(session.Connector.Stats.Hosts);
            Assert.Equal((fixture.HttpA.BaseAddress.Port, null), (host.Port, host.Proxy));
        }

        Assert.DoesNotContain(fixture.Open.Requests, r => r.Contains("/echo/env-", StringComparison.Ordinal) && !r.Contains("env-proxied", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SockConnect_AProxyThatNeverAnswersTheConnect_BoundsTheTunnel()
    {
        // A "proxy" whose kernel accepts the TCP connection but which never reads or answers.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(8);
        var time = new SignalingTimeProvider();
        var sockConnect = TimeSpan.FromSeconds(3);
        await using var session = new ClientSession("stalled-proxy", new ClientSessionOptions
        {
            Proxy = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndPoint!).Port}"),
            Timeout = new ClientTimeout { Total = null, SockConnect = sockConnect },
        }, time);
        var request = session.GetAsync(fixture.Tls.Url("ok"));
        using var accepted = await silent.AcceptAsync().WaitAsync(TestServer.Patience);

        // The CONNECT arrives, and no answer comes: SockConnect, which started with the first address attempt, ends it.
        var buffer = new byte[4096];
        var received = 0;
        while (!System.Text.Encoding.ASCII.GetString(buffer, 0, received).EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await accepted.ReceiveAsync(buffer.AsMemory(received)).AsTask().WaitAsync(TestServer.Patience);
            Assert.NotEqual(0, read);
            received += read;
        }

        Assert.StartsWith($"CONNECT 127.0.0.1:{fixture.Tls.BaseAddress.Port} HTTP/1.1", System.Text.Encoding.ASCII.GetString(buffer, 0, received), StringComparison.Ordinal);
        await time.WhenTimerCreated(sockConnect);
        time.Advance(sockConnect);

        var error = await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(sockConnect, error.Timeout);
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 0), (stats.InUse, stats.Waiting, stats.OpenConnections));

        // The tunnel's connection is closed: the proxy reads its end.
        Assert.Equal(0, await accepted.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TestServer.Patience));
    }
}
