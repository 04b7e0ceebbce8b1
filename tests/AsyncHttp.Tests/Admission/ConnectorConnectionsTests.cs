using AsyncHttp.Internal;

namespace AsyncHttp.Tests.Admission;

/// <summary>
/// The per-server room for connections on the connector itself (<see cref="Connector.ReserveConnectionAsync"/> and
/// <see cref="Connector.ConnectionClosed"/>): a connect waits at the cap, in order, and a closed connection's room goes
/// to the next connect still waiting, never to one that gave up.
/// </summary>
public sealed class ConnectorConnectionsTests
{
    private static readonly HostKey A = new("http", "a.test", 80);

    [Fact]
    public async Task ReserveConnectionAsync_AtTheCap_WaitsUntilAConnectionCloses_AndTheRoomPassesWithoutACount()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);

        var first = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None);
        var second = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None);
        var third = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None);

        Assert.True(first.IsCompletedSuccessfully);
        Assert.False(second.IsCompleted, "one connection is open and the cap is one");
        Assert.False(third.IsCompleted);
        Assert.Equal(1, OpenTo(connector));

        // Each close hands its room to the oldest connect waiting, and only to it: the count stays at the cap.
        connector.ConnectionClosed(A);
        await second.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(third.IsCompleted, "one close makes room for one connect");
        Assert.Equal(1, OpenTo(connector));
        connector.ConnectionClosed(A);
        await third.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, OpenTo(connector));

        // No one waits now: a close lowers the count, and a connect takes the room at once again.
        connector.ConnectionClosed(A);
        Assert.Equal((0, 0), (OpenTo(connector), connector.Stats.OpenConnections));
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        Assert.Equal(1, OpenTo(connector));
        connector.ConnectionClosed(A);
        Assert.Equal(0, connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task ReserveConnectionAsync_CancelledWhileWaiting_FailsAndPassesTheRoomToTheNextConnect()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        using var cancel = new CancellationTokenSource();
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        var gaveUp = connector.ReserveConnectionAsync(A, perServer: 1, cancel.Token).AsTask();
        var next = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(next.IsCompleted);
        connector.ConnectionClosed(A);
        await next.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, OpenTo(connector));
        connector.ConnectionClosed(A);
        Assert.Equal(0, OpenTo(connector));
    }

    [Fact]
    public async Task ReserveConnectionAsync_CancelledWithoutAWaiterBehind_LowersTheCountOnTheNextClose()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        using var cancel = new CancellationTokenSource();
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        var gaveUp = connector.ReserveConnectionAsync(A, perServer: 1, cancel.Token).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp.WaitAsync(TimeSpan.FromSeconds(30)));
        connector.ConnectionClosed(A);

        // The connect that gave up took no room, and the queue it left is empty: the next connect takes the room at once.
        Assert.Equal(0, connector.Stats.OpenConnections);
        Assert.Empty(connector.Stats.Hosts);
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        Assert.Equal(1, OpenTo(connector));
    }

    [Fact]
    public async Task ReserveConnectionAsync_NewConnectWithRoomWhileOneWaits_TakesTheRoomTheOlderCannotUse()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        var waiting = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).AsTask();

        // A raised cap (a reconfigured transport) leaves room that the connect already waiting cannot use (its own cap
        // is full): the newcomer takes it rather than wait behind a connect it takes nothing from.
        var newcomer = connector.ReserveConnectionAsync(A, perServer: 2, CancellationToken.None).AsTask();
        await newcomer.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(waiting.IsCompleted);
        Assert.Equal(2, OpenTo(connector));

        // The older one gets in once its own cap has room again: two closes.
        connector.ConnectionClosed(A);
        Assert.False(waiting.IsCompleted, "one connection still open past its cap of 1");
        connector.ConnectionClosed(A);
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, OpenTo(connector));
    }

    [Fact]
    public async Task Stats_Hosts_ListAHostWithOnlyAnOpenConnection_AndNotOneWithNothing()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        var session = connector.Join("s", new SessionCaps(0, 0, 0, 0));
        (await connector.AcquireAsync(session, new HostKey("http", "b.test", 80), CancellationToken.None)).Release();

        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);

        // A: an idle connection, nothing in use or waiting. B: used once, nothing left.
        var host = Assert.Single(connector.Stats.Hosts);
        Assert.Equal(("http://a.test:80", 0, 0, 1), (host.Host, host.InUse, host.Waiting, host.OpenConnections));
        connector.ConnectionClosed(A);
        Assert.Empty(connector.Stats.Hosts);
    }

    [Fact]
    public async Task Stats_Hosts_AfterConnectsWaitedAndAllClosed_ListNothing()
    {
        var connector = new Connector("s", limit: 0, limitPerHost: 0, queueLimit: 0);
        Assert.True(connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).IsCompletedSuccessfully);
        var waiting = connector.ReserveConnectionAsync(A, perServer: 1, CancellationToken.None).AsTask();
        Assert.Equal(1, Assert.Single(connector.Stats.Hosts).OpenConnections);

        connector.ConnectionClosed(A);
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        connector.ConnectionClosed(A);

        // The queue of connects is empty now, though it exists: the host is idle.
        Assert.Empty(connector.Stats.Hosts);
    }

    private static int OpenTo(Connector connector)
        => connector.Stats.Hosts.SingleOrDefault(h => h.Host == "http://a.test:80")?.OpenConnections ?? 0;
}
