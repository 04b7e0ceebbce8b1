using System.Net;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// HTTP/2 against Kestrel on loopback, h2c (prior knowledge) and h2 over TLS (ALPN): a slot is a stream, the limits
/// count streams exactly, a slot comes back at the end of its stream's body, no request waits below admission when the
/// server allows few streams per connection (another connection opens), a stalled stream is ended by SockRead or Total
/// without harm to the others on its connection, a GOAWAY lets the streams in flight finish, and an early dispose resets
/// the stream, never the connection. Connections are counted by the connector and at the server.
/// </summary>
public sealed class Http2Tests
{
    private static readonly Version H2 = HttpVersion.Version20;

    private static ClientSession H2cSession(int limit = 100, int limitPerHost = 0, TimeProvider? time = null, ClientTimeout? timeout = null)
        => new("h2", new ClientSessionOptions
        {
            Limit = limit,
            LimitPerHost = limitPerHost,
            Version = H2,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = timeout ?? new ClientTimeout(),
        }, time);

    private static async Task AssertNothingLeftAsync(ClientSession session, TestServer server)
    {
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
        await session.DisposeAsync();
        await server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Version20_OverTls_NegotiatesH2ByAlpn_WhileTheDefaultStaysHttp11()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.Tls);
        await using var h1 = new ClientSession("h1", new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true });
        await using var h2 = new ClientSession("h2", new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true, Version = H2 });

        await using (var response = await h1.GetAsync(server.Url("protocol")))
        {
            Assert.Equal(HttpVersion.Version11, response.Version);
            Assert.Equal("HTTP/1.1", await response.ReadAsStringAsync());
        }

        await using (var response = await h2.GetAsync(server.Url("protocol")))
        {
            Assert.Equal(H2, response.Version);
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        // Per request, either way: the request's own version wins over the connector's.
        await using (var response = await h1.GetAsync(server.Url("protocol"), new RequestOptions { Version = H2 }))
        {
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        await using (var response = await h2.GetAsync(server.Url("protocol"), new RequestOptions { Version = HttpVersion.Version11 }))
        {
            Assert.Equal("HTTP/1.1", await response.ReadAsStringAsync());
        }

        // 20 streams at once over TLS share the h2 connection: h2 made two connections in all (one for the HTTP/1.1 request).
        var streams = Enumerable.Range(0, 20).Select(i => h2.GetAsync(server.Url($"hold?id=tls{i}"))).ToList();
        await server.WhenArrivals(20);
        Assert.Equal((20, 2), (h2.Connector.Stats.InUse, h2.Connector.Stats.OpenConnections));
        for (var i = 0; i < 20; i++)
        {
            server.Open($"tls{i}");
        }

        foreach (var stream in streams)
        {
            await using var response = await stream.WaitAsync(TestServer.Patience);
            Assert.StartsWith("done:tls", await response.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(2, h2.Connector.Stats.ConnectionsOpened);
    }

    [Fact]
    public async Task Version20_OverTlsToAnHttp11OnlyServer_FallsBackUnlessExact()
    {
        // The ALPN of a server without h2 settles on http/1.1: RequestVersionOrLower falls back, Exact refuses.
        await using var server = await TestServer.StartAsync();
        await using var tls = await TestServer.StartAsync(protocol: ServerProtocol.Tls);
        await using var session = new ClientSession("h2", new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true, Version = H2 });

        await using (var response = await session.GetAsync(server.Url("protocol")))
        {
            // Cleartext with RequestVersionOrLower: HTTP/1.1, as HttpClient does (h2c needs prior knowledge).
            Assert.Equal("HTTP/1.1", await response.ReadAsStringAsync());
        }

        await using (var response = await session.GetAsync(tls.Url("protocol"), new RequestOptions { VersionPolicy = HttpVersionPolicy.RequestVersionExact }))
        {
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => session.GetAsync(server.Url("protocol"), new RequestOptions { VersionPolicy = HttpVersionPolicy.RequestVersionExact }));
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task H2c_PriorKnowledge_EveryWayToSend_UsesTheConnectorsVersionUnlessTheMessageHasItsOwn()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        await using var session = H2cSession();

        await using (var response = await session.GetAsync(server.Url("protocol")))
        {
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        // A message at HttpRequestMessage's defaults (1.1, or lower) takes the connector's version, through the session's
        // SendAsync and through an HttpClient on the session's handler alike.
        await using (var response = await session.SendAsync(new HttpRequestMessage(HttpMethod.Get, server.Url("protocol"))))
        {
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        using var client = new HttpClient(session.CreateHandler());
        Assert.Equal("HTTP/2", await client.GetStringAsync(server.Url("protocol")));

        // A message that asks for a version of its own keeps it: the h2c-only server refuses HTTP/1.1 (on a connection of its own).
        var own = new HttpRequestMessage(HttpMethod.Get, server.Url("protocol")) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        await using (var refused = await session.SendAsync(own))
        {
            Assert.Equal((400, HttpVersion.Version11), (refused.Status, refused.Version));
            Assert.Contains("HTTP/1.x request was sent to an HTTP/2 only endpoint", await refused.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(2, session.Connector.Stats.ConnectionsOpened);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task H2c_AMessageWithAVersionAndPolicyOfItsOwn_OnASessionAtTheDefaults_KeepsBoth()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        await using var session = new ClientSession("h1", new ClientSessionOptions());

        // HTTP/2 exactly: h2c with prior knowledge. With the session's policy instead (or lower), a cleartext request falls
        // back to HTTP/1.1, which this h2c-only server refuses.
        var own = new HttpRequestMessage(HttpMethod.Get, server.Url("protocol")) { Version = H2, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        await using (var response = await session.SendAsync(own))
        {
            Assert.Equal((200, H2), (response.Status, response.Version));
            Assert.Equal("HTTP/2", await response.ReadAsStringAsync());
        }

        Assert.Equal((H2, HttpVersionPolicy.RequestVersionExact), (own.Version, own.VersionPolicy));
        own.Dispose();
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task LimitPerHost_CountsStreams_ManyOnOneConnection()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession(limitPerHost: 3);
        var requests = Enumerable.Range(0, 10).Select(i => session.GetAsync(server.Url($"hold?id=s{i}"))).ToList();
        await server.WhenArrivals(3);

        var stats = session.Connector.Stats;
        Assert.Equal((3, 7), (stats.InUse, stats.Waiting));
        Assert.Equal((1, 1L), (stats.OpenConnections, stats.ConnectionsOpened));
        Assert.Equal(3, server.InFlight);

        for (var i = 0; i < 10; i++)
        {
            server.Open($"s{i}");
        }

        foreach (var request in requests)
        {
            await using var response = await request.WaitAsync(TestServer.Patience);
            Assert.StartsWith("done:", await response.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(3, server.MaxInFlight);
        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task Release_AtTheEndOfTheStreamsBody_TheConnectionStaysForTheNext()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession(limitPerHost: 1);
        await using (var response = await session.GetAsync(server.Url("slowbody?id=b1")))
        {
            Assert.Equal(1, session.Connector.Stats.InUse);
            var body = response.ReadAsStringAsync();
            server.Open("b1");
            Assert.Equal("body:b1", await body.WaitAsync(TestServer.Patience));

            // Released at the end of the body, before the response is disposed; the connection stays open.
            Assert.True(response.IsReleased);
            Assert.Equal((0, 1), (session.Connector.Stats.InUse, session.Connector.Stats.OpenConnections));
        }

        await using (var next = await session.GetAsync(server.Url("ok")))
        {
            Assert.Equal("hello", await next.ReadAsStringAsync());
        }

        Assert.Equal(1, session.Connector.Stats.ConnectionsOpened);
        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task FewStreamsPerConnection_AnotherConnectionOpens_NoRequestWaitsBelowAdmission()
    {
        // The server allows 2 streams per connection; 6 requests are admitted: all 6 must reach the server, on 3
        // connections. With one connection per host (the handler's default), 4 would wait inside the handler, unseen.
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c, maxStreamsPerConnection: 2);
        var session = H2cSession(limitPerHost: 6);
        using (var warm = await session.GetAsync(server.Url("ok")))
        {
            // One connection first, so that the server's SETTINGS (2 streams) are known before the burst.
            Assert.Equal("hello", await warm.ReadAsStringAsync());
        }

        var requests = Enumerable.Range(0, 6).Select(i => session.GetAsync(server.Url($"hold?id=f{i}"))).ToList();

        await server.WhenArrivals(6);
        var stats = session.Connector.Stats;
        Assert.Equal((6, 0), (stats.InUse, stats.Waiting));
        Assert.Equal(3, stats.OpenConnections);
        Assert.Equal(3, server.OpenConnections);

        for (var i = 0; i < 6; i++)
        {
            server.Open($"f{i}");
        }

        foreach (var request in requests)
        {
            await using var response = await request.WaitAsync(TestServer.Patience);
            Assert.StartsWith("done:", await response.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(3, session.Connector.Stats.ConnectionsOpened);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task Limit_AnIdleH2ConnectionToOneHost_IsClosedForAnotherHost()
    {
        // Limit bounds the connections open at every moment, HTTP/2's too: with Limit = 1, the idle h2 connection to the
        // first host is closed to make room for the second host's, at once (not after the keep-alive timeout, 10 minutes
        // here, nor by a Connect timeout, left at none).
        await using var first = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        await using var second = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = new ClientSession("h2", new ClientSessionOptions
        {
            Limit = 1,
            Version = H2,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            KeepAliveTimeout = TimeSpan.FromMinutes(10),
            Timeout = new ClientTimeout(),
        });

        for (var i = 0; i < 3; i++)
        {
            var server = i % 2 == 0 ? first : second;
            await using var response = await session.GetAsync(server.Url("ok")).WaitAsync(TestServer.Patience);
            Assert.Equal("hello", await response.ReadAsStringAsync());
            Assert.Equal(HttpVersion.Version20, response.Version);
        }

        Assert.Equal(3, session.Connector.Stats.ConnectionsOpened);
        Assert.True(session.Connector.Stats.OpenConnections <= 1);
        await AssertNothingLeftAsync(session, first);
        await second.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Limit_AHostWithAStreamInFlight_KeepsItsConnections_TheOtherHostWaitsForTheStreamToEnd()
    {
        // Two h2 connections to the first host (one stream each, the server's limit), Limit = 2: the second host's
        // connect needs one of them closed. While a stream of the first host is in flight none may be (the handler may
        // give a stream any of the host's connections), so the connect waits; once the stream ends, one is closed.
        await using var first = await TestServer.StartAsync(protocol: ServerProtocol.H2c, maxStreamsPerConnection: 1);
        await using var second = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = new ClientSession("h2", new ClientSessionOptions
        {
            Limit = 2,
            Version = H2,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            KeepAliveTimeout = TimeSpan.FromMinutes(10),
            Timeout = new ClientTimeout(),
        });
        using (var warm = await session.GetAsync(first.Url("ok")))
        {
            Assert.Equal("hello", await warm.ReadAsStringAsync());
        }

        var two = new[] { session.GetAsync(first.Url("hold?id=a")), session.GetAsync(first.Url("hold?id=b")) };
        await first.WhenArrivals(2);
        first.Open("a");
        await using (var a = await two[0].WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:a", await a.ReadAsStringAsync());
        }

        Assert.Equal(2, first.OpenConnections);
        // Its slot is free (one stream in flight of two), its connection is not: it cannot complete while b is held.
        var other = session.GetAsync(second.Url("ok"));
        Assert.Equal(2, session.Connector.Stats.InUse);
        Assert.False(other.IsCompleted);
        Assert.Equal(0, second.AcceptedConnections);

        first.Open("b");
        await using (var b = await two[1].WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:b", await b.ReadAsStringAsync());
        }

        await using (var response = await other.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("hello", await response.ReadAsStringAsync());
        }

        Assert.Equal(1, first.OpenConnections);
        await AssertNothingLeftAsync(session, first);
        await second.WhenNoOpenConnections();
    }

    [Fact]
    public async Task ManyStreams_ReuseOneConnection()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession(limitPerHost: 20);
        using (var warm = await session.GetAsync(server.Url("ok")))
        {
            // The connection first, its SETTINGS known: a burst that met a connection still being made could start
            // another, as the handler may when requests queue behind one that is not up yet.
            Assert.Equal("hello", await warm.ReadAsStringAsync());
        }

        var requests = Enumerable.Range(0, 200).Select(async _ =>
        {
            await using var response = await session.GetAsync(server.Url("ok"));
            return await response.ReadAsStringAsync();
        }).ToList();

        Assert.All(await Task.WhenAll(requests).WaitAsync(TestServer.Patience), body => Assert.Equal("hello", body));
        Assert.Equal(1, session.Connector.Stats.ConnectionsOpened);
        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task EarlyDispose_ResetsTheStream_NeverTheConnection()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession();
        var other = session.GetAsync(server.Url("hold?id=other"));
        await server.WhenArrived("other");
        var dropped = await session.GetAsync(server.Url("stream?id=dropped"));
        await server.WhenArrived("dropped");
        var stream = await dropped.ReadAsStreamAsync();
        var buffer = new byte[16];
        Assert.True(await stream.ReadAsync(buffer) > 0);

        await dropped.DisposeAsync();

        // The server sees that stream given up (RST_STREAM), while the other stream on the connection goes on.
        await server.WhenAborted("dropped");
        Assert.Equal(1, session.Connector.Stats.InUse);
        server.Open("other");
        await using (var response = await other.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:other", await response.ReadAsStringAsync());
        }

        await using (var next = await session.GetAsync(server.Url("ok")))
        {
            Assert.Equal("hello", await next.ReadAsStringAsync());
        }

        Assert.Equal((1, 1L), (session.Connector.Stats.OpenConnections, session.Connector.Stats.ConnectionsOpened));
        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockRead_StalledStream_EndsThatStreamOnly()
    {
        var time = new SignalingTimeProvider();
        var sockRead = TimeSpan.FromSeconds(5);
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession(time: time, timeout: new ClientTimeout { Total = null, SockRead = sockRead });

        // The other stream waits for its headers without SockRead: it must not be cut by the stalled one's.
        var other = session.GetAsync(server.Url("hold?id=other"), new RequestOptions { Timeout = new ClientTimeout { Total = null } });
        await server.WhenArrived("other");
        await using var stalled = await session.GetAsync(server.Url("stream?id=stalled"));
        var stream = await stalled.ReadAsStreamAsync();
        var buffer = new byte[16];
        Assert.True(await stream.ReadAsync(buffer) > 0);

        var read = stream.ReadAsync(buffer).AsTask();
        time.Advance(sockRead);

        var error = await Assert.ThrowsAsync<SocketReadTimeoutException>(() => read.WaitAsync(TestServer.Patience));
        Assert.Equal(sockRead, error.Timeout);
        await server.WhenAborted("stalled");
        Assert.Equal(1, session.Connector.Stats.InUse);

        server.Open("other");
        await using (var response = await other.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:other", await response.ReadAsStringAsync());
        }

        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task Total_StalledStream_FiresAndGivesTheSlotBack()
    {
        var time = new SignalingTimeProvider();
        var total = TimeSpan.FromSeconds(30);
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession(time: time, timeout: new ClientTimeout { Total = total });
        await using var stalled = await session.GetAsync(server.Url("stream?id=total"));
        var body = stalled.ReadAsStringAsync();

        time.Advance(total);

        await Assert.ThrowsAsync<TotalTimeoutException>(() => body.WaitAsync(TestServer.Patience));
        await server.WhenAborted("total");
        await using (var next = await session.GetAsync(server.Url("ok")))
        {
            Assert.Equal("hello", await next.ReadAsStringAsync());
        }

        Assert.Equal(1, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task Goaway_FromTheServer_StreamsInFlightFinish_NewOnesGoToANewConnection()
    {
        await using var server = await TestServer.StartAsync(protocol: ServerProtocol.H2c);
        var session = H2cSession();
        var inFlight = session.GetAsync(server.Url("hold?id=inflight"));
        await server.WhenArrived("inflight");

        await using (var goaway = await session.GetAsync(server.Url("goaway")))
        {
            Assert.Equal("goaway", await goaway.ReadAsStringAsync());
        }

        // The stream already on the draining connection finishes there.
        server.Open("inflight");
        await using (var response = await inFlight.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("done:inflight", await response.ReadAsStringAsync());
        }

        // New streams go to a new connection, without an error.
        for (var i = 0; i < 3; i++)
        {
            await using var next = await session.GetAsync(server.Url("ok"));
            Assert.Equal("hello", await next.ReadAsStringAsync());
        }

        Assert.Equal(2, session.Connector.Stats.ConnectionsOpened);
        Assert.Equal(2, server.AcceptedConnections);
        await AssertNothingLeftAsync(session, server);
    }
}
