using System.Collections.Concurrent;
using System.Net;

namespace AsyncHttp.Internal;

/// <summary>
/// Resolved addresses per host name for <see cref="ClientSessionOptions.DnsCacheTtl"/>. Concurrent lookups of one
/// name share one lookup; a failed lookup is not kept. One per transport, so shared by the sessions of a connector: each
/// lookup reports to the session that asked for it.
/// </summary>
/// <param name="ttl">How long an answer is kept.</param>
/// <param name="time">The clock of the TTL.</param>
/// <param name="resolver">Resolves a name instead of the system's resolver (<see cref="ConnectorOptions.Resolver"/>).</param>
internal sealed class DnsCache(TimeSpan ttl, TimeProvider time, Func<string, CancellationToken, Task<IPAddress[]>>? resolver = null)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);

    public ValueTask<IPAddress[]> ResolveAsync(string host, SessionTelemetry telemetry, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return new ValueTask<IPAddress[]>([literal]);
        }

        if (ttl <= TimeSpan.Zero)
        {
            return new ValueTask<IPAddress[]>(LookupAsync(host, telemetry, cancellationToken));
        }

        var now = time.GetTimestamp();
        if (_entries.TryGetValue(host, out var entry) && time.GetElapsedTime(entry.Created, now) < ttl && !entry.Lookup.IsFaulted && !entry.Lookup.IsCanceled)
        {
            telemetry.Trace(TraceEventKind.DnsCacheHit, host: host);
            return new ValueTask<IPAddress[]>(entry.Lookup.WaitAsync(cancellationToken));
        }

        // The shared lookup is not bound to one caller's token: another caller may still want its answer.
        telemetry.Trace(TraceEventKind.DnsCacheMiss, host: host);
        var fresh = new Entry(LookupAsync(host, telemetry, CancellationToken.None), now);
        var winner = _entries.AddOrUpdate(host, fresh, (_, old) => old == entry ? fresh : old);
        _ = winner.Lookup.ContinueWith(
            static (t, s) =>
            {
                var (cache, name, e) = ((DnsCache, string, Entry))s!;
                cache._entries.TryRemove(new KeyValuePair<string, Entry>(name, e));
            },
            (this, host, winner),
            CancellationToken.None,
            TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return new ValueTask<IPAddress[]>(winner.Lookup.WaitAsync(cancellationToken));
    }

    private async Task<IPAddress[]> LookupAsync(string host, SessionTelemetry telemetry, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        telemetry.Trace(TraceEventKind.DnsResolveStart, host: host);
        var addresses = await (resolver ?? Dns.GetHostAddressesAsync)(host, cancellationToken).ConfigureAwait(false);
        telemetry.Trace(TraceEventKind.DnsResolveEnd, host: host, elapsed: time.GetElapsedTime(started));
        return addresses;
    }

    private sealed record Entry(Task<IPAddress[]> Lookup, long Created);
}
