using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Timeouts;

/// <summary>
/// <see cref="ClientTimeout.SockRead"/> bounds the wait for the response: it starts once the request has been sent (its
/// content uploaded), so an upload the server reads slowly is not cut off by it; a server that stops reading an upload
/// is bounded by <see cref="ClientTimeout.Total"/>. A raw-socket server reads the upload; time is a
/// <see cref="SignalingTimeProvider"/> that the server moves as it reads.
/// </summary>
public sealed class SockReadTimeoutTests
{
    private const int UploadSize = 24 * FaultServer.UploadStep;
    private static readonly TimeSpan SockRead = TimeSpan.FromSeconds(2);

    private readonly SignalingTimeProvider _time = new();

    private ClientSession Session(ClientTimeout timeout, bool withMiddleware = false)
        => new("sock-read", new ClientSessionOptions { Timeout = timeout }, _time, middlewares: withMiddleware ? [() => new PassThrough()] : null);

    private static async Task AssertNothingLeftAsync(ClientSession session, FaultServer server)
    {
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SockRead_UploadTheServerReadsSlowly_DoesNotFireWhileItIsSent(bool withMiddleware)
    {
        // The server reads 24 MiB steadily over 4 s of the session's clock, twice SockRead, then answers at once.
        await using var server = new FaultServer { UploadRead = _ => _time.Advance(TimeSpan.FromSeconds(4.0 / 24)) };
        var session = Session(new ClientTimeout { Total = null, SockRead = SockRead }, withMiddleware);
        using var content = new ByteArrayContent(new byte[UploadSize]);

        await using (var response = await session.PostAsync(server.Url(FaultServer.SlowUpload).ToString(), content).WaitAsync(TestServer.Patience))
        {
            Assert.Equal($"received {UploadSize}", await response.ReadAsStringAsync());
        }

        // The caller's content is the request's again, and can be sent once more.
        Assert.Equal(UploadSize, content.Headers.ContentLength);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockRead_ServerReadsTheUploadAndNeverAnswers_FiresFromTheEndOfTheUpload()
    {
        await using var server = new FaultServer();
        var session = Session(new ClientTimeout { Total = null, SockRead = SockRead });
        using var content = new ByteArrayContent(new byte[FaultServer.UploadStep]);
        var request = session.PostAsync(server.Url(FaultServer.NeverAnswers).ToString(), content);

        // The request's timer is first set when the content has been sent: SockRead from there.
        await _time.WhenTimerCreated(SockRead);
        _time.Advance(SockRead - TimeSpan.FromMilliseconds(1));
        Assert.False(request.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<SocketReadTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(SockRead, error.Timeout);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockRead_ServerStopsReadingTheUpload_TotalEndsIt()
    {
        var total = TimeSpan.FromSeconds(30);
        await using var server = new FaultServer();
        var session = Session(new ClientTimeout { Total = total, SockRead = SockRead });
        using var content = new ByteArrayContent(new byte[UploadSize]);
        var request = session.PostAsync(server.Url($"{FaultServer.StalledUpload}?after={FaultServer.UploadStep}").ToString(), content);
        await server.WhenUploadStalled();

        // An upload that no longer moves is not a wait for the response: SockRead does not end it.
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(request.IsCompleted);
        _time.Advance(total - TimeSpan.FromSeconds(10));

        var error = await Assert.ThrowsAsync<TotalTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        Assert.Equal(total, error.Timeout);
        server.ResumeUploads();
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task SockRead_Get_StillBoundsTheWaitForTheHeaders()
    {
        await using var server = new FaultServer();
        var session = Session(new ClientTimeout { Total = null, SockRead = SockRead });
        var request = session.GetAsync(server.Url(FaultServer.NeverAnswers).ToString());
        await server.WhenRequestReceived();

        _time.Advance(SockRead);

        await Assert.ThrowsAsync<SocketReadTimeoutException>(() => request.WaitAsync(TestServer.Patience));
        await AssertNothingLeftAsync(session, server);
    }

    private sealed class PassThrough : DelegatingHandler;
}
