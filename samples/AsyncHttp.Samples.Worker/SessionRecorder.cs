namespace AsyncHttp.Samples.Worker;

/// <summary>What one session did during the crawl: latencies, failures, bytes, and the most slots and waiters seen.</summary>
internal sealed class SessionRecorder(string session)
{
    private readonly Lock _lock = new();
    private readonly List<TimeSpan> _latencies = [];
    private int _failed;
    private long _bytes;
    private int _maxInUse;
    private int _maxWaiting;
    private string? _firstError;

    public string Session => session;

    public int Completed
    {
        get
        {
            lock (_lock)
            {
                return _latencies.Count + _failed;
            }
        }
    }

    public void Succeeded(TimeSpan latency, int bytes)
    {
        lock (_lock)
        {
            _latencies.Add(latency);
            _bytes += bytes;
        }
    }

    public void Failed(Exception error)
    {
        lock (_lock)
        {
            _failed++;
            _firstError ??= $"{error.GetType().Name}: {error.Message}";
        }
    }

    /// <summary>Keeps the highest numbers of a snapshot of the session's share of its connector.</summary>
    public void Observe(SessionStats stats)
    {
        lock (_lock)
        {
            _maxInUse = Math.Max(_maxInUse, stats.InUse);
            _maxWaiting = Math.Max(_maxWaiting, stats.Waiting);
        }
    }

    /// <param name="longestQueueWait">The longest the session's requests waited in the queue (from its traces).</param>
    public SessionReport Report(TimeSpan longestQueueWait)
    {
        lock (_lock)
        {
            var sorted = _latencies.Order().ToArray();
            return new SessionReport(
                session,
                sorted.Length + _failed,
                _failed,
                _bytes,
                Percentile(sorted, 0.50),
                Percentile(sorted, 0.99),
                _maxInUse,
                _maxWaiting,
                longestQueueWait,
                _firstError);
        }
    }

    // Nearest rank: the smallest latency that at least p of the requests did not exceed.
    private static TimeSpan Percentile(TimeSpan[] sorted, double p)
        => sorted.Length == 0 ? TimeSpan.Zero : sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
