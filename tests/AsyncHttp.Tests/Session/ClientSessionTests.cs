using System.Runtime.CompilerServices;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Session;

/// <summary>Headers, URLs, lazy bodies, closing and leaked responses, against a real server.</summary>
public sealed class ClientSessionTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task GetAsync_ServerHoldsTheBody_ReturnsAtTheHeaders()
    {
        await using var session = new ClientSession();

        await using var response = await session.GetAsync(_server.Url("slowbody?id=lazy")).WaitAsync(TestServer.Patience);

        Assert.Equal(200, response.Status);
        Assert.False(response.IsReleased);
        Assert.Equal(1, session.Connector.Stats.InUse);
        _server.Open("lazy");
        Assert.Equal("body:lazy", await response.ReadAsStringAsync());
        Assert.True(response.IsReleased);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task DeleteAsync_SendsADeleteWithoutABody()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        await using var response = await session.DeleteAsync(_server.Url("method").AbsoluteUri);

        Assert.Equal("DELETE  ", await response.ReadAsStringAsync());
        Assert.Equal(HttpMethod.Delete, response.Method);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task PatchAsync_SendsAPatchWithItsBody()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        await using var response = await session.PatchAsync(_server.Url("method").AbsoluteUri, new StringContent("changed", System.Text.Encoding.UTF8, "text/plain"));

        Assert.Equal("PATCH text/plain; charset=utf-8 changed", await response.ReadAsStringAsync());
        Assert.Equal(HttpMethod.Patch, response.Method);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task HeadAsync_ReturnsTheHeadersOfTheResourceWithNoBody_AndHoldsNoSlot()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        await using var response = await session.HeadAsync(_server.Url("big?size=4096").AbsoluteUri);

        Assert.Equal(200, response.Status);
        Assert.Equal(HttpMethod.Head, response.Method);
        Assert.Equal(4096, response.ContentHeaders.ContentLength);
        Assert.True(response.IsReleased);
        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.Empty(await response.ReadAsBytesAsync());
        await using var stream = await response.ReadAsStreamAsync();
        Assert.Equal(0, await stream.ReadAsync(new byte[16]));
    }

    [Fact]
    public async Task Headers_PerRequestHeader_ReplacesSessionDefaultOfTheSameName()
    {
        var options = new ClientSessionOptions();
        options.Headers["X-Client"] = "session";
        options.Headers["X-Team"] = "core";
        await using var session = new ClientSession(options);

        await using var response = await session.GetAsync(
            _server.Url("headers"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["x-client"] = "request" } });
        var echoed = await response.ReadAsStringAsync();

        Assert.Contains("X-Client: request", echoed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("session", echoed, StringComparison.Ordinal);
        Assert.Contains("X-Team: core", echoed, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Headers_OwnAcceptEncodingAndCookie_AreSentInsteadOfTheSessions(bool preparedMessage)
    {
        await using var session = new ClientSession();
        var url = _server.Url("headers");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");
        request.Headers.TryAddWithoutValidation("Cookie", "sid=7");
        var headers = new Dictionary<string, string> { ["Accept-Encoding"] = "identity", ["Cookie"] = "sid=7" };

        await using var response = preparedMessage
            ? await session.SendAsync(request)
            : await session.GetAsync(url, new RequestOptions { Headers = headers });
        var echoed = await response.ReadAsStringAsync();

        Assert.Contains("Accept-Encoding: identity", echoed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("gzip", echoed, StringComparison.Ordinal);
        Assert.Contains("Cookie: sid=7", echoed, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Headers_NoneGiven_SendsTheSessionsAcceptEncoding()
    {
        await using var session = new ClientSession();

        await using var response = await session.GetAsync(_server.Url("headers"));
        var echoed = await response.ReadAsStringAsync();

        Assert.Contains("Accept-Encoding: gzip, deflate, br", echoed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Cookie", echoed, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Headers_ValueWithNewLine_IsRejectedBeforeSending()
    {
        await using var session = new ClientSession();

        await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync(
            _server.Url("headers"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["X-Evil"] = "a\r\nX-Injected: 1" } }));

        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Theory]
    [InlineData("items?x=1", "/echo/api/items?x=1")]
    [InlineData("./items", "/echo/api/items")]
    [InlineData("../up", "/echo/up")]
    [InlineData("/echo/root", "/echo/root")]
    [InlineData("?q=2", "/echo/api/?q=2")]
    public async Task BaseAddress_RelativeUrl_JoinsByRfc3986(string relative, string expectedPathAndQuery)
    {
        await using var session = new ClientSession(new ClientSessionOptions { BaseAddress = _server.Url("echo/api/") });

        await using var response = await session.GetAsync(relative);

        Assert.Equal(expectedPathAndQuery, await response.ReadAsStringAsync());
        Assert.Equal(_server.Url(expectedPathAndQuery.TrimStart('/')), response.Url);
    }

    [Fact]
    public void BaseAddress_PathWithoutTrailingSlash_IsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new ClientSession(new ClientSessionOptions { BaseAddress = new Uri("http://127.0.0.1:1/api") }));

        Assert.Contains("BaseAddress", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_RelativeUrlWithoutBaseAddress_ThrowsArgumentExceptionAndHoldsNothing()
    {
        await using var session = new ClientSession();

        await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync("items"));
        await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync("ftp://127.0.0.1/file"));
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task DisposeAsync_QueuedAndInFlightFail_NewRequestsThrow_AndEveryConnectionCloses()
    {
        var session = new ClientSession("closing", new ClientSessionOptions { Limit = 1 });
        var inFlight = session.GetAsync(_server.Url("hold?id=c0"));
        await _server.WhenArrivals(1);
        var queued = session.GetAsync(_server.Url("hold?id=c1"));
        Assert.Equal(1, _server.OpenConnections);

        await session.DisposeAsync();

        var queuedError = await Assert.ThrowsAsync<SessionClosedException>(() => queued);
        Assert.Contains("closing", queuedError.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SessionClosedException>(() => inFlight);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => session.GetAsync(_server.Url("ok")));
        await _server.WhenNoOpenConnections();
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await session.DisposeAsync(); // twice is harmless
    }

    [Fact]
    public async Task DisposeAsync_ResponseWithItsBodyUnread_GivesItsSlotBackAndFailsItsRead()
    {
        var session = new ClientSession("closing", new ClientSessionOptions { Limit = 1 });
        var response = await session.GetAsync(_server.Url("slowbody?id=u1"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        await session.DisposeAsync();

        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        Assert.True(response.IsReleased);
        await Assert.ThrowsAsync<SessionClosedException>(() => response.ReadAsStringAsync());
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task CloseAsync_WithGracePeriod_LetsInFlightRequestsFinish()
    {
        var session = new ClientSession(new ClientSessionOptions { Limit = 2 });
        var inFlight = session.GetAsync(_server.Url("hold?id=g0"));
        await _server.WhenArrivals(1);

        var closing = session.CloseAsync(CancellationToken.None);
        Assert.False(closing.IsCompleted);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => session.GetAsync(_server.Url("ok")));
        _server.Open("g0");
        await using (var response = await inFlight)
        {
            Assert.Equal("done:g0", await response.ReadAsStringAsync());
        }

        await closing.WaitAsync(TestServer.Patience);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task DisposeAsync_DuringAGracefulClose_AbortsAtOnce()
    {
        var session = new ClientSession(new ClientSessionOptions { Limit = 2 });
        var inFlight = session.GetAsync(_server.Url("hold?id=d0"));
        await _server.WhenArrivals(1);
        var closing = session.CloseAsync(CancellationToken.None);

        await session.DisposeAsync();

        Assert.True(closing.IsCompleted);
        await Assert.ThrowsAsync<SessionClosedException>(() => inFlight);
        await _server.WhenNoOpenConnections();
    }

    [Fact]
    public async Task Reconfigure_TransportChange_KeepsInFlightRequestsAndAppliesToNewOnes()
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 4 });
        var inFlight = session.GetAsync(_server.Url("hold?id=r0"));
        await _server.WhenArrivals(1);

        var changed = new ClientSessionOptions { Limit = 4, KeepAliveTimeout = TimeSpan.FromSeconds(3) };
        changed.Headers["X-Generation"] = "2";
        session.Reconfigure(changed);

        await using (var fresh = await session.GetAsync(_server.Url("headers")))
        {
            Assert.Contains("X-Generation: 2", await fresh.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        _server.Open("r0");
        await using var old = await inFlight;
        Assert.Equal("done:r0", await old.ReadAsStringAsync());
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Response_DroppedWithoutRelease_GivesItsSlotBackWhenCollected_AndWarns()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("leaky", new ClientSessionOptions { Limit = 1 }, loggerFactory: logs);

        await DropResponseAsync(session, _server.Url("big?size=100000&token=secret"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        await Collector.UntilIdleAsync(session);

        Assert.Equal(0, session.Connector.Stats.InUse);
        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Equal("AsyncHttp.ClientSession.leaky", warning.Category);
        Assert.Contains("GET", warning.Message, StringComparison.Ordinal);
        Assert.Contains(_server.Url("big").AbsoluteUri, warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", warning.Message, StringComparison.Ordinal);

        // The slot is usable again.
        await using var next = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);
        Assert.Equal("hello", await next.ReadAsStringAsync());
    }

    [Fact]
    public async Task Response_ReadToTheEndAndDroppedUndisposed_IsNotReportedAsLeaked()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("tidy", loggerFactory: logs);

        await ReadAndDropAsync(session, _server.Url("big?size=1000"));
        GC.Collect();
        GC.WaitForPendingFinalizers();

        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.DoesNotContain(logs.Entries, e => e.Level == LogLevel.Warning);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task ReadAndDropAsync(ClientSession session, Uri url)
    {
        var response = await session.GetAsync(url);
        Assert.Equal(1000, (await response.ReadAsBytesAsync()).Length);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task DropResponseAsync(ClientSession session, Uri url)
    {
        var response = await session.GetAsync(url);
        Assert.Equal(200, response.Status);
    }
}
