using AsyncHttp.Internal;

namespace AsyncHttp;

// The connections of the connector's transport, counted per host for every session on it. With HTTP/1.x a connection
// carries one request at a time, so a slot is a connection; with HTTP/2 a slot is a stream, and a connection carries
// several: the room reserved here is for connections, whatever their protocol, and the bound per server is the same,
// since the transport opens an HTTP/2 connection only for a stream that finds no room on the others.
public sealed partial class Connector
{
    // Connections made since the connector was created: with HTTP/2, far fewer than requests.
    private long _connectionsOpened;

    /// <summary>
    /// The connector's transport and its settings: the current generation's (a request keeps the version it started with).
    /// </summary>
    internal TransportSettings TransportSettings => Volatile.Read(ref _transport).Settings;

    /// <summary>The proxy a request to <paramref name="url"/> goes through, as its host key names it; null when none.</summary>
    internal string? ProxyFor(Uri url) => Volatile.Read(ref _transport).Proxies?.RouteFor(url)?.Name;

    /// <summary>A connection was made (its socket connected), to be counted in <see cref="ConnectorStats.ConnectionsOpened"/>.</summary>
    internal void ConnectionOpened() => Interlocked.Increment(ref _connectionsOpened);

    /// <summary>
    /// Counts one more connection to <paramref name="key"/> as open, from before it is made: at once while fewer than
    /// <paramref name="perServer"/> are, otherwise once one closes. The transport never makes more connections to a
    /// server than that (its own cap), but it counts one closed before its socket is: a new connect could then start
    /// while the old socket is still closing. Waiting here for the count makes the bound hold at every moment.
    /// </summary>
    /// <returns>Completes with the room reserved; <see cref="ConnectionClosed"/> gives it back.</returns>
    internal ValueTask ReserveConnectionAsync(HostKey key, int perServer, CancellationToken cancellationToken)
    {
        TaskCompletionSource room;
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            if (host.OpenConnections < perServer && host.ConnectionWaiters is not { Count: > 0 })
            {
                host.OpenConnections++;
                _openConnections++;
                AssertInvariants();
                return ValueTask.CompletedTask;
            }

            room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (host.ConnectionWaiters ??= new Queue<TaskCompletionSource>()).Enqueue(room);
        }

        if (cancellationToken.CanBeCanceled)
        {
            // A room granted at the same instant is passed on: see ConnectionClosed.
            cancellationToken.UnsafeRegister(static (s, token) => ((TaskCompletionSource)s!).TrySetCanceled(token), room);
        }

        return new ValueTask(room.Task);
    }

    /// <summary>A connection closed, or a reserved connect failed: its room goes to the next connect waiting for one.</summary>
    internal void ConnectionClosed(HostKey key)
    {
        lock (_lock)
        {
            var host = GetOrAddHost(key);
            while (host.ConnectionWaiters is { Count: > 0 } waiters)
            {
                // The room passes to the waiter as it is: the count stays.
                if (waiters.Dequeue().TrySetResult())
                {
                    AssertInvariants();
                    return;
                }
            }

            host.OpenConnections--;
            _openConnections--;
            AssertInvariants();
        }
    }

    /// <summary>The open connections per host, for the connections gauge.</summary>
    internal List<(HostKey Key, int Open)> OpenConnectionsByHost()
    {
        List<(HostKey, int)> hosts = [];
        lock (_lock)
        {
            foreach (var host in _hosts.Values)
            {
                if (host.OpenConnections > 0)
                {
                    hosts.Add((host.Key, host.OpenConnections));
                }
            }
        }

        return hosts;
    }
}
