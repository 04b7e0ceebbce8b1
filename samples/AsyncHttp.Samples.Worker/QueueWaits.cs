using System.Collections.Concurrent;

namespace AsyncHttp.Samples.Worker;

/// <summary>
/// The longest time each session's requests waited in the connector's queue, from the sessions' trace callbacks: a
/// request admitted at once raises no queue event, so a session that never queued reports zero.
/// </summary>
internal sealed class QueueWaits
{
    private readonly ConcurrentDictionary<string, TimeSpan> _longest = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The callbacks to give each session (<c>AddTrace</c>).</summary>
    public ClientTrace Trace => new() { OnConnectionQueuedEnd = e => Record(e.Session, e.Elapsed ?? TimeSpan.Zero) };

    public TimeSpan LongestOf(string session) => _longest.GetValueOrDefault(session);

    private void Record(string session, TimeSpan waited)
        => _longest.AddOrUpdate(session, waited, (_, longest) => waited > longest ? waited : longest);
}
