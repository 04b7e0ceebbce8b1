using AsyncHttp.Tests.Infrastructure;
using AsyncHttp.Tests.Reliability;
using Xunit.Abstractions;

namespace AsyncHttp.Tests.Response;

/// <summary>
/// Every reader has a memory bound set by configuration: a hostile server sending one 64 MiB line, or one 64 MiB JSON
/// string, costs the client about the bound, not several times the value. Serial, because the allocation counter
/// counts every thread of the process.
/// </summary>
[Collection(nameof(SerialTests))]
public sealed class ReaderMemoryBoundTests(ITestOutputHelper output)
{
    private const int Bound = 1024 * 1024;

    // Without the bounds, a 64 MiB value costs hundreds of MiB (StreamReader's and the serializer's growing buffers,
    // then the string); with them, a few times the 1 MiB bound.
    private const long AllocationCeiling = 16L * 1024 * 1024;

    [Fact]
    public async Task ReadLinesAsync_LineOverMaxLineLength_FailsWithinTheBound_AndLeaksNothing()
    {
        await using var server = new FaultServer();
        var session = new ClientSession("lines", new ClientSessionOptions { MaxLineLength = Bound });
        var lines = new List<string>();

        await using var response = await session.GetAsync(server.Url(FaultServer.LongLine));
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = await Assert.ThrowsAsync<ClientPayloadException>(async () =>
        {
            await foreach (var line in response.ReadLinesAsync())
            {
                lines.Add(line);
            }
        });
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        output.WriteLine($"allocated while reading: {allocated:N0} bytes");

        Assert.Equal(["first"], lines);
        Assert.Contains($"MaxLineLength ({Bound} characters)", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < AllocationCeiling, $"Reading up to the bound allocated {allocated:N0} bytes.");
        await AssertNothingLeftAsync(session, response, server);
    }

    [Fact]
    public async Task ReadFromJsonAsync_StringOverMaxResponseContentBufferSize_FailsWithinTheBound_AndLeaksNothing()
    {
        await using var server = new FaultServer();
        var session = new ClientSession("json", new ClientSessionOptions { MaxResponseContentBufferSize = Bound });

        await using var response = await session.GetAsync(server.Url(FaultServer.LongJsonString));
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = await Assert.ThrowsAsync<ClientPayloadException>(() => response.ReadFromJsonAsync(Requests.TestJsonContext.Default.Order));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        output.WriteLine($"allocated while reading: {allocated:N0} bytes");

        Assert.Contains($"MaxResponseContentBufferSize ({Bound} bytes)", error.Message, StringComparison.Ordinal);
        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, error.HttpRequestError);
        Assert.True(allocated < AllocationCeiling, $"Reading up to the bound allocated {allocated:N0} bytes.");
        await AssertNothingLeftAsync(session, response, server);
    }

    /// <summary>The failed read gave the slot back and closed the connection at once, before the session closes.</summary>
    private static async Task AssertNothingLeftAsync(ClientSession session, ClientResponse response, FaultServer server)
    {
        Assert.True(response.IsReleased);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
        await server.WhenAllSocketsClosed();
        await session.DisposeAsync();
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
    }
}
