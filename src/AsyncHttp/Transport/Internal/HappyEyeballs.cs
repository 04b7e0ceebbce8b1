using System.Net;
using System.Net.Sockets;

namespace AsyncHttp.Internal;

/// <summary>
/// Connects to one of several addresses of a host as RFC 8305 (Happy Eyeballs v2) asks: the addresses in the resolver's
/// order with the address families interleaved, one attempt started at a time, the next one after
/// <see cref="ConnectorOptions.HappyEyeballsDelay"/> without an answer (at once when an attempt fails), every attempt
/// still running raced against the later ones; the first to connect wins, the others are cancelled and their sockets
/// closed.
/// </summary>
/// <remarks>
/// The caller's token bounds everything (<see cref="ConnectAttempt"/>: Connect, SockConnect, the request's
/// interruption, the transport's close): when it fires, every attempt ends and no socket is left open.
/// </remarks>
internal static class HappyEyeballs
{
    /// <summary>Connects to one of <paramref name="addresses"/> on <paramref name="port"/>.</summary>
    /// <param name="addresses">The host's addresses, at least one.</param>
    /// <param name="port">The port.</param>
    /// <param name="delay">How long an attempt runs alone before the next starts beside it; null: one after another.</param>
    /// <param name="time">The clock of the delay.</param>
    /// <param name="failed">Describes why an address failed, as the exception the caller throws when all did.</param>
    /// <param name="cancellationToken">Ends every attempt.</param>
    /// <returns>The connected socket; the caller owns it.</returns>
    public static async Task<Socket> ConnectAsync(
        IReadOnlyList<IPAddress> addresses,
        int port,
        TimeSpan? delay,
        TimeProvider time,
        Func<IPAddress, SocketException, Exception> failed,
        CancellationToken cancellationToken)
    {
        var ordered = Interleave(addresses);
        if (ordered.Count == 1 || delay is null)
        {
            return await OneAfterAnotherAsync(ordered, port, failed, cancellationToken).ConfigureAwait(false);
        }

        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        List<(Task<Socket> Task, IPAddress Address)> running = [];
        var next = 0;
        Exception? last = null;
        Task? stagger = null;
        try
        {
            while (true)
            {
                if (next < ordered.Count && (running.Count == 0 || stagger is { IsCompleted: true }))
                {
                    // The next address: at first, after the delay without an answer, or at once after a failure.
                    var address = ordered[next++];
                    running.Add((AttemptAsync(address, port, race.Token), address));
                    stagger = next < ordered.Count ? Task.Delay(delay.Value, time, race.Token) : null;
                }

                if (running.Count == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    throw last!;
                }

                var done = await Task.WhenAny(Waits(running, stagger)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (ReferenceEquals(done, stagger))
                {
                    continue;
                }

                var index = running.FindIndex(r => ReferenceEquals(r.Task, done));
                var (attempt, failedAddress) = running[index];
                running.RemoveAt(index);
                if (attempt.IsCompletedSuccessfully)
                {
                    return attempt.Result;
                }

                if (attempt.Exception?.InnerException is SocketException refused)
                {
                    last = failed(failedAddress, refused);
                    stagger = next < ordered.Count ? Task.CompletedTask : null;
                    continue;
                }

                // Anything else (a cancellation the caller's token does not explain) ends the race as it is.
                await attempt.ConfigureAwait(false);
            }
        }
        finally
        {
            // The winner is returned; every other attempt ends now, and a socket one of them connects meanwhile closes.
            await race.CancelAsync().ConfigureAwait(false);
            foreach (var (loser, _) in running)
            {
                _ = loser.ContinueWith(
                    static t => CountedNetworkStream.Close(t.Result),
                    CancellationToken.None,
                    TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }
    }

    private static List<Task> Waits(List<(Task<Socket> Task, IPAddress Address)> running, Task? stagger)
    {
        List<Task> waits = new(running.Count + 1);
        foreach (var (task, _) in running)
        {
            waits.Add(task);
        }

        if (stagger is not null)
        {
            waits.Add(stagger);
        }

        return waits;
    }

    /// <summary>
    /// The addresses in the resolver's order (RFC 6724 sorted them), the families alternating from the first one's
    /// (RFC 8305 §4): <c>v6, v4, v6, v4, ...</c>, so that a broken family costs one delay, not all of its addresses.
    /// </summary>
    public static List<IPAddress> Interleave(IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count < 3)
        {
            return [.. addresses];
        }

        var first = addresses[0].AddressFamily;
        var same = new Queue<IPAddress>(addresses.Where(a => a.AddressFamily == first));
        var other = new Queue<IPAddress>(addresses.Where(a => a.AddressFamily != first));
        List<IPAddress> ordered = new(addresses.Count);
        while (same.Count > 0 || other.Count > 0)
        {
            if (same.TryDequeue(out var a))
            {
                ordered.Add(a);
            }

            if (other.TryDequeue(out var b))
            {
                ordered.Add(b);
            }
        }

        return ordered;
    }

    private static async Task<Socket> OneAfterAnotherAsync(List<IPAddress> addresses, int port, Func<IPAddress, SocketException, Exception> failed, CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await AttemptAsync(address, port, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                last = failed(address, ex);
            }
        }

        throw last!;
    }

    /// <summary>One address: a connected socket, or the socket closed and the failure thrown.</summary>
    private static async Task<Socket> AttemptAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            CountedNetworkStream.Close(socket);
            throw;
        }
    }
}
