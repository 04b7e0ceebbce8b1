using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Requests;

/// <summary>
/// A server that answers early (<c>413</c> before an upload is done) and closes: without <c>Expect: 100-continue</c> its
/// answer is lost (the transport sends the whole body before it reads a response, on HTTP/1.1), with it the answer
/// reaches the caller as a response, before the body is sent. Raw-socket servers, so the test sees every byte.
/// </summary>
public sealed class ExpectContinueTests
{
    private const int UploadSize = 24 * 1024 * 1024;

    // Long enough that the server's answer always comes first, however loaded the machine: the body is sent without an
    // answer only after this (SocketsHttpHandler's default is 1 s).
    private static readonly TimeSpan PatientExpect = TestServer.Patience;

    private static async Task AssertNothingLeftAsync(ClientSession session, FaultServer server)
    {
        var stats = session.Connector.Stats;
        Assert.Equal((0, 0), (stats.InUse, stats.Waiting));
        await session.DisposeAsync();
        await server.WhenAllSocketsClosed();
    }

    [Fact]
    public async Task Post_ServerAnswers413EarlyAndCloses_WithoutExpectContinue_FailsWithServerDisconnected()
    {
        await using var server = new FaultServer();
        var session = new ClientSession();
        using var content = new ByteArrayContent(new byte[UploadSize]);

        var error = await Assert.ThrowsAsync<ServerDisconnectedException>(
            () => session.PostAsync(server.Url(FaultServer.EarlyAnswer413).ToString(), content).WaitAsync(TestServer.Patience));

        // The server reset the connection under the upload: the write failed, and the 413 it sent first never reached
        // the caller. A POST is not idempotent, so it is not sent again.
        Assert.Equal("The server reset the connection.", error.Message);
        var write = Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.IsType<IOException>(write.InnerException);
        // The write that meets the reset fails with ECONNRESET, one after it with EPIPE (Shutdown).
        Assert.Contains(
            Assert.IsType<System.Net.Sockets.SocketException>(write.InnerException.InnerException).SocketErrorCode,
            new[] { System.Net.Sockets.SocketError.ConnectionReset, System.Net.Sockets.SocketError.Shutdown });
        Assert.Equal(1, server.AcceptedConnections);
        Assert.DoesNotContain("Expect:", Assert.Single(server.Heads), StringComparison.OrdinalIgnoreCase);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task Put_ServerAnswers413EarlyAndCloses_WithoutExpectContinue_IsSentTwiceThenFails()
    {
        await using var server = new FaultServer();
        var session = new ClientSession();
        using var content = new ByteArrayContent(new byte[UploadSize]);

        await Assert.ThrowsAsync<ServerDisconnectedException>(
            () => session.PutAsync(server.Url(FaultServer.EarlyAnswer413).ToString(), content).WaitAsync(TestServer.Patience));

        // A PUT is idempotent and nothing of a response was read: it is sent once more on a new connection (RFC 9112
        // §9.3.1, as aiohttp does), and fails the same way.
        Assert.Equal(2, server.AcceptedConnections);
        Assert.Equal(2, server.Heads.Count);
        await AssertNothingLeftAsync(session, server);
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, true)]
    public async Task Upload_ServerAnswers413Early_WithExpectContinue_ReturnsTheAnswerBeforeTheBody(bool sessionDefault, bool? perRequest)
    {
        await using var server = new FaultServer();
        var session = new ClientSession(new ClientSessionOptions { ExpectContinue = sessionDefault, ExpectContinueTimeout = PatientExpect });
        using var content = new ByteArrayContent(new byte[UploadSize]);

        await using (var response = await session.PostAsync(
            server.Url(FaultServer.EarlyAnswer413).ToString(), content, new RequestOptions { ExpectContinue = perRequest }).WaitAsync(TestServer.Patience))
        {
            Assert.Equal(413, response.Status);
        }

        Assert.Contains("\r\nExpect: 100-continue", Assert.Single(server.Heads), StringComparison.OrdinalIgnoreCase);
        await AssertNothingLeftAsync(session, server);
        Assert.Equal(0, server.BodyBytesAfterEarlyAnswer);
    }

    [Fact]
    public async Task Upload_WithExpectContinue_ServerSaysContinue_SendsTheBody()
    {
        await using var server = new FaultServer();
        var session = new ClientSession(new ClientSessionOptions { ExpectContinue = true, ExpectContinueTimeout = PatientExpect });
        using var content = new ByteArrayContent(new byte[3 * FaultServer.UploadStep]);

        await using (var response = await session.PostAsync(server.Url(FaultServer.Ok).ToString(), content).WaitAsync(TestServer.Patience))
        {
            Assert.Equal("ok", await response.ReadAsStringAsync());
        }

        Assert.Contains("\r\nExpect: 100-continue", Assert.Single(server.Heads), StringComparison.OrdinalIgnoreCase);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task ExpectContinue_RequestWithoutBody_DoesNotSendIt()
    {
        await using var server = new FaultServer();
        var session = new ClientSession(new ClientSessionOptions { ExpectContinue = true });

        await using (var response = await session.GetAsync(server.Url(FaultServer.Ok)))
        {
            Assert.Equal("ok", await response.ReadAsStringAsync());
        }

        Assert.DoesNotContain("Expect:", Assert.Single(server.Heads), StringComparison.OrdinalIgnoreCase);
        await AssertNothingLeftAsync(session, server);
    }

    [Fact]
    public async Task ExpectContinue_RedirectToGet_DropsItWithTheBody()
    {
        await using var server = new FaultServer();
        var session = new ClientSession(new ClientSessionOptions { ExpectContinue = true, ExpectContinueTimeout = PatientExpect });
        using var content = new StringContent("hello");

        await using (var response = await session.PostAsync(server.Url($"{FaultServer.Redirect}?status=303").ToString(), content).WaitAsync(TestServer.Patience))
        {
            Assert.Equal("ok", await response.ReadAsStringAsync());
        }

        var heads = server.Heads;
        Assert.Equal(2, heads.Count);
        Assert.Contains("\r\nExpect: 100-continue", heads[0], StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("GET /ok ", heads[1], StringComparison.Ordinal);
        Assert.DoesNotContain("Expect:", heads[1], StringComparison.OrdinalIgnoreCase);
        await AssertNothingLeftAsync(session, server);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue + 1L)]
    public void Validate_ExpectContinueTimeoutOutOfRange_IsRejectedNamingTheKey(long milliseconds)
    {
        var options = new ClientSessionOptions { ExpectContinueTimeout = TimeSpan.FromMilliseconds(milliseconds) };

        var error = Assert.Single(options.Validate());

        Assert.StartsWith("ExpectContinueTimeout must be between", error, StringComparison.Ordinal);
    }
}
