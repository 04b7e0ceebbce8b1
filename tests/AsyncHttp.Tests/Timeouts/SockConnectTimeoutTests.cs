using System.Net;
using AsyncHttp.Tests.Infrastructure;
using AsyncHttp.Tests.Reliability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Timeouts;

/// <summary>
/// <see cref="ClientTimeout.SockConnect"/> bounds establishing one connection: every address attempt and the TLS
/// handshake, as aiohttp's <c>sock_connect</c>; it is the request's own (sessions with different timeouts may share a
/// transport), and a connection still being established closes with the session. The server accepts TCP and never
/// answers the TLS ClientHello; time is a <see cref="SignalingTimeProvider"/>.
/// </summary>
public sealed class SockConnectTimeoutTests
{
    private readonly SignalingTimeProvider _time = new();

    private ClientSession Session(ClientTimeout timeout, Func<DelegatingHandler>? middleware = null)
        => new("sock-connect", new ClientSessionOptions { Timeout = timeout }, _time, middlewares: middleware is null ? null : [middleware]);

    private static async Task AssertNothingLeftAsync(ClientSession session, FaultServer server)
    {
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 0), (stats.InUse, stats.Waiting, stats.OpenConnections));
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task SockConnect_TlsHandshakeStalls_FiresWithSocketConnectTimeout()
    {
        await using var server = new FaultServer();
        var sockConnect = TimeSpan.FromSeconds(10);
        await using var session = Session(new ClientTimeout { SockConnect = sockConnect });
        var request = session.GetAsync(server.TlsUrl());
        await server.WhenTlsHandshakeStarted();

        // One budget from the first address attempt to the end of the handshake: 6 s, then 4 more.
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.False(request.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(4));

        var error = await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeoutKind.SockConnect, error.Kind);
        Assert.Equal(sockConnect, error.Timeout);
        Assert.Contains("SockConnect", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockConnect_IsReadPerRequest_NotWhenTheTransportWasBuilt()
    {
        await using var server = new FaultServer();
        // The session's SockConnect is 30 s; this request's own is 2 s, and the transport is the session's.
        await using var session = Session(new ClientTimeout { SockConnect = TimeSpan.FromSeconds(30) });
        var hurried = session.GetAsync(server.TlsUrl(), new RequestOptions { Timeout = new ClientTimeout { SockConnect = TimeSpan.FromSeconds(2) } });
        await server.WhenTlsHandshakeStarted();

        _time.Advance(TimeSpan.FromSeconds(2));

        var error = await Assert.ThrowsAsync<SocketConnectTimeoutException>(() => hurried.WaitAsync(TestServer.Patience));
        Assert.Equal(TimeSpan.FromSeconds(2), error.Timeout);
        await AssertNothingLeftAsync(session, server);

        // And a request without SockConnect (or any timeout) of its own waits for as long as its handshake takes.
        using var cancel = new CancellationTokenSource();
        var patient = session.GetAsync(server.TlsUrl(), new RequestOptions { Timeout = new ClientTimeout { Total = null, SockConnect = null } }, cancel.Token);
        await server.WhenTlsHandshakesStarted(2);
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.False(patient.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => patient.WaitAsync(TestServer.Patience));
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockConnect_RequestWithoutAContext_TakesTheTransportsSetting()
    {
        await using var server = new FaultServer();
        // A middleware's own message carries no request context: the transport's SockConnect (the session's) applies.
        var sockConnect = TimeSpan.FromSeconds(7);
        PassThrough? middleware = null;
        await using var session = Session(new ClientTimeout { SockConnect = sockConnect }, () => middleware = new PassThrough());
        using var invoker = new HttpMessageInvoker(middleware!, disposeHandler: false);
        var own = invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, server.TlsUrl()), CancellationToken.None);
        await server.WhenTlsHandshakeStarted();

        _time.Advance(sockConnect);

        var error = await Assert.ThrowsAnyAsync<HttpRequestException>(() => own.WaitAsync(TestServer.Patience));
        var timeout = Assert.IsType<SocketConnectTimeoutException>(Innermost<ClientTimeoutException>(error));
        Assert.Equal(sockConnect, timeout.Timeout);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task DisposeAsync_WhileATlsHandshakeStalls_ClosesTheConnectionAtOnce()
    {
        await using var server = new FaultServer();
        await using var session = Session(new ClientTimeout { SockConnect = null });
        var request = session.GetAsync(server.TlsUrl());
        await server.WhenTlsHandshakeStarted();
        Assert.Equal(1, session.Connector.Stats.OpenConnections);

        await session.DisposeAsync();

        // Closed by the dispose itself, not by the handler's pending-connection timeout (5 s) some time later.
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await Assert.ThrowsAsync<SessionClosedException>(() => request.WaitAsync(TestServer.Patience));
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task DisposeAsync_AConnectAbandonedByItsRequest_ClosesIt()
    {
        await using var server = new FaultServer();
        // A middleware's own message that its sender gave up on: the handler keeps making its connection (for 5 s, or
        // for another request); nothing ties it to a request of the session. The session's close still ends it.
        PassThrough? middleware = null;
        var session = Session(new ClientTimeout { SockConnect = null }, () => middleware = new PassThrough());
        using var invoker = new HttpMessageInvoker(middleware!, disposeHandler: false);
        using var giveUp = new CancellationTokenSource();
        var own = invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, server.TlsUrl()), giveUp.Token);
        await server.WhenTlsHandshakeStarted();
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => own.WaitAsync(TestServer.Patience));
        Assert.Equal(0, session.Connector.Stats.InUse);

        await session.DisposeAsync();

        Assert.Equal(0, session.Connector.Stats.OpenConnections);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockConnect_TlsEstablished_NoLongerBoundsTheConnection()
    {
        // A real TLS server: once the handshake is done the attempt is over, and neither SockConnect nor Connect
        // closes the connection afterwards, on this request or the next one that reuses it.
        using var certificate = SafeDefaultsTests.CreateSelfSigned();
        var arrived = new SemaphoreSlim(0);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        await using var app = builder.Build();
        app.MapGet("/slow", async (HttpContext context) =>
        {
            arrived.Release();
            await answer.Task.WaitAsync(TestServer.Patience, context.RequestAborted);
            return "slow";
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        await using var session = new ClientSession(
            "tls",
            new ClientSessionOptions
            {
                DangerousAcceptAnyServerCertificate = true,
                Timeout = { Total = null, Connect = TimeSpan.FromSeconds(5), SockConnect = TimeSpan.FromSeconds(5) },
            },
            _time);

        var first = session.GetAsync(new Uri(address, "slow"));
        await arrived.WaitAsync(TestServer.Patience);
        _time.Advance(TimeSpan.FromMinutes(1));
        answer.SetResult();
        await using (var response = await first.WaitAsync(TestServer.Patience))
        {
            Assert.Equal("slow", await response.ReadAsStringAsync());
        }

        await using (var again = await session.GetAsync(new Uri(address, "slow")).WaitAsync(TestServer.Patience))
        {
            Assert.Equal("slow", await again.ReadAsStringAsync());
        }

        var stats = session.Connector.Stats;
        Assert.Equal((0, 0, 1), (stats.InUse, stats.Waiting, stats.OpenConnections));
    }

    private static T? Innermost<T>(Exception exception)
        where T : Exception
    {
        T? found = null;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            found = e as T ?? found;
        }

        return found;
    }

    private sealed class PassThrough : DelegatingHandler;
}
