namespace AsyncHttp.Internal;

/// <summary>
/// When a queued request gives up: the earlier of its <see cref="ClientTimeout.Connect"/> and
/// <see cref="ClientTimeout.Total"/> deadlines, counted from the start of the request. <see cref="Span"/> is the
/// timeout it was computed from; requests with the same span expire in arrival order.
/// </summary>
internal readonly record struct QueueDeadline(long At, long Span, TimeoutKind Kind)
{
    /// <summary>The queue deadline of a request started at <paramref name="started"/>; null when neither timeout is set.</summary>
    public static QueueDeadline? From(ClientTimeout timeout, long started, TimeProvider time)
    {
        var connect = Ticks(timeout.Connect, time);
        var total = Ticks(timeout.Total, time);
        if (connect is null && total is null)
        {
            return null;
        }

        var (span, kind) = connect is { } c && (total is null || c <= total) ? (c, TimeoutKind.Connect) : (total!.Value, TimeoutKind.Total);
        return new QueueDeadline(span >= long.MaxValue - started ? long.MaxValue : started + span, span, kind);
    }

    private static long? Ticks(TimeSpan? span, TimeProvider time)
        => span is { } value ? (long)Math.Min(value.TotalSeconds * time.TimestampFrequency, long.MaxValue) : null;
}
