using System.Runtime.CompilerServices;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Reliability;

/// <summary>
/// The first promise: a slot comes back exactly once, and <see cref="ClientSessionOptions.Limit"/> bounds the
/// connections a session holds open, whatever a hostile server or a careless caller does. Each test here failed
/// before slots were owned by one lease.
/// </summary>
public sealed class SlotOwnershipTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static void AssertNothingHeld(ClientSession session)
        => Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

    [Theory]
    [InlineData("//:abc")]
    [InlineData("//[")]
    [InlineData("//[::1]:99999/")]
    public async Task Redirect_ToALocationThatCannotBeParsed_GivesAClientExceptionAndTheSlotBack(string location)
    {
        await using var server = new FaultServer();
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        var error = await Assert.ThrowsAnyAsync<ClientException>(
            () => session.GetAsync(server.Url($"{FaultServer.Redirect}?location={Uri.EscapeDataString(location)}")).WaitAsync(TestServer.Patience));

        Assert.Contains("Location", error.Message, StringComparison.Ordinal);
        AssertNothingHeld(session);
        await using var next = await session.GetAsync(server.Url(FaultServer.Ok)).WaitAsync(TestServer.Patience);
        Assert.Equal("ok", await next.ReadAsStringAsync());
    }

    [Fact]
    public async Task Stream_KeptAfterItsResponseIsDropped_IsNotCutWhenTheCollectorRuns()
    {
        const int Size = 512 * 1024;
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("streams", new ClientSessionOptions { Limit = 1 }, loggerFactory: logs);
        var stream = await OpenStreamAndDropResponseAsync(session, _server.Url($"big?size={Size}"));
        var buffer = new byte[1024];
        var total = await stream.ReadAsync(buffer);

        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(1, session.Connector.Stats.InUse);
        for (var read = -1; read != 0 && total <= Size; total += read)
        {
            read = await stream.ReadAsync(buffer);
        }

        Assert.Equal(Size, total);
        AssertNothingHeld(session);
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Name == "ResponseLeaked");
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task Stream_DroppedWithItsResponse_IsReclaimedWhenCollected()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("streams", new ClientSessionOptions { Limit = 1 }, loggerFactory: logs);
        await OpenStreamAndDropBothAsync(session, _server.Url("big?size=200000"));

        for (var i = 0; i < 5 && session.Connector.Stats.InUse != 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        AssertNothingHeld(session);
        Assert.Contains(logs.Entries, e => e.EventId.Name == "ResponseLeaked");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task OpenStreamAndDropBothAsync(ClientSession session, Uri url)
    {
        var stream = await OpenStreamAndDropResponseAsync(session, url);
        await stream.ReadExactlyAsync(new byte[1024]);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<Stream> OpenStreamAndDropResponseAsync(ClientSession session, Uri url)
    {
        var response = await session.GetAsync(url);
        return await response.ReadAsStreamAsync();
    }

    [Fact]
    public async Task Limit_ResponsesDisposedEarly_NeverOpenMoreConnectionsThanTheLimit()
    {
        const int Limit = 2;
        await using var server = new FaultServer();
        var maxOpenAtClient = 0;
        ClientSession? session = null;
        var trace = new ClientTrace
        {
            // At every connection the connector opens: how many it holds open now, this one included.
            OnConnectionCreateEnd = _ => InterlockedMax(ref maxOpenAtClient, session!.Connector.Stats.OpenConnections),
        };
        session = new ClientSession("early", new ClientSessionOptions { Limit = Limit }, traces: [trace]);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            for (var i = 0; i < 10; i++)
            {
                // A body the server sends at once, and one it stalls: a drain in the background would hold either open.
                var path = i % 2 == 0 ? FaultServer.Bytes : FaultServer.StalledBody;
                await using var response = await session.GetAsync(server.Url($"{path}?size={512 * 1024}"));
                await using var stream = await response.ReadAsStreamAsync();
                await stream.ReadExactlyAsync(new byte[1024]);
            }
        })).WaitAsync(TestServer.Patience);

        Assert.InRange(server.MaxOpenAtAccept, 1, Limit);
        Assert.InRange(maxOpenAtClient, 1, Limit);
        AssertNothingHeld(session);
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task Total_OnAResponseHeldButNeverRead_GivesTheSlotBackAndFailsLaterReads()
    {
        var time = new SignalingTimeProvider();
        var total = TimeSpan.FromSeconds(30);
        await using var session = new ClientSession("held", new ClientSessionOptions { Limit = 1, Timeout = { Total = total } }, time);
        await using var response = await session.GetAsync(_server.Url("big?size=300000"));
        Assert.Equal(1, session.Connector.Stats.InUse);

        time.Advance(total);

        AssertNothingHeld(session);
        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => response.ReadAsBytesAsync());
        Assert.Equal(total, error.Timeout);
        await _server.WhenNoOpenConnections();
    }

    [Theory]
    [InlineData("HEAD", "big?size=5000")]
    [InlineData("GET", "status/204")]
    [InlineData("GET", "status/304")]
    [InlineData("GET", "big?size=0")]
    public async Task Response_WithoutABody_GivesTheSlotBackWhenTheHeadersAreIn(string method, string path)
    {
        await using var session = new ClientSession(new ClientSessionOptions { Limit = 1 });

        var response = await session.SendAsync(new HttpMethod(method), _server.Url(path));

        Assert.True(response.IsReleased);
        AssertNothingHeld(session);
        await using var next = await session.GetAsync(_server.Url("ok")).WaitAsync(TestServer.Patience);
        Assert.Equal("hello", await next.ReadAsStringAsync());
        Assert.Empty(await response.ReadAsBytesAsync());
        GC.KeepAlive(response);
    }

    [Theory]
    [InlineData("big?size=70000")]
    [InlineData("compressed?encoding=gzip&size=70000")]
    public async Task Body_ReadTwiceBuffered_GivesTheSameContentBothTimes(string path)
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url(path));

        var bytes = await response.ReadAsBytesAsync();
        var text = await response.ReadAsStringAsync();
        var again = await response.ReadAsBytesAsync();

        Assert.Equal(70000, bytes.Length);
        Assert.Equal(70000, text.Length);
        Assert.Equal(bytes, again);
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Body_ReadAgainAfterItWasStreamed_ThrowsInvalidOperation()
    {
        await using var session = new ClientSession();
        await using var response = await session.GetAsync(_server.Url("big?size=10000"));
        await using (var stream = await response.ReadAsStreamAsync())
        {
            await stream.CopyToAsync(Stream.Null);
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => response.ReadAsBytesAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => response.ReadAsStreamAsync());
        AssertNothingHeld(session);
    }

    [Fact]
    public async Task Reload_WhileARequestIsInFlight_LeavesItTheSettingsItStartedWith()
    {
        await using var session = new ClientSession(new ClientSessionOptions { MaxResponseContentBufferSize = 1024 * 1024 });
        await using var response = await session.GetAsync(_server.Url("big?size=500000"));

        session.Reconfigure(new ClientSessionOptions { MaxResponseContentBufferSize = 1000 });

        Assert.Equal(500000, (await response.ReadAsBytesAsync()).Length);
        await using var later = await session.GetAsync(_server.Url("big?size=500000"));
        await Assert.ThrowsAsync<ClientPayloadException>(() => later.ReadAsBytesAsync());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
