using AsyncHttp.Internal;

namespace AsyncHttp;

// The connections of the connector's transport, counted per host for every session on it.
public sealed partial class Connector
{
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
