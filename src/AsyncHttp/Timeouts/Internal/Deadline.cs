namespace AsyncHttp.Internal;

/// <summary>
/// When something gives up: a timestamp, the timeout <see cref="Span"/> it was computed from, and the kind of timeout
/// it enforces. Deadlines of one span and kind share a lane of <see cref="DeadlineLanes"/>.
/// </summary>
internal readonly record struct Deadline(long At, long Span, TimeoutKind Kind)
{
    /// <summary>
    /// The deadline of a request waiting in the connector's queue: the earlier of <see cref="ClientTimeout.Connect"/>
    /// and <see cref="ClientTimeout.Total"/> from the start of the request; null when neither is set.
    /// </summary>
    public static Deadline? InQueue(ClientTimeout timeout, long started, TimeProvider time)
    {
        var connect = Ticks(timeout.Connect, time);
        var total = Ticks(timeout.Total, time);
        if (connect is null && total is null)
        {
            return null;
        }

        var (span, kind) = connect is { } c && (total is null || c <= total) ? (c, TimeoutKind.Connect) : (total!.Value, TimeoutKind.Total);
        return new Deadline(After(started, span), span, kind);
    }

    /// <summary>The <see cref="ClientTimeout.Total"/> deadline of a request; null when it is not set.</summary>
    public static Deadline? Total(ClientTimeout timeout, long started, TimeProvider time)
        => Ticks(timeout.Total, time) is { } span ? new Deadline(After(started, span), span, TimeoutKind.Total) : null;

    private static long After(long started, long span) => span >= long.MaxValue - started ? long.MaxValue : started + span;

    private static long? Ticks(TimeSpan? span, TimeProvider time)
        => span is { } value ? (long)Math.Min(value.TotalSeconds * time.TimestampFrequency, long.MaxValue) : null;
}
