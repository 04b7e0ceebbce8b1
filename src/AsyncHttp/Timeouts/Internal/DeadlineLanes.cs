namespace AsyncHttp.Internal;

/// <summary>
/// Many deadlines behind one timer, so that what waits on them costs no timer and no cancellation source of its own.
/// Nodes with the same timeout span and kind share a lane kept in deadline order; since they mostly arrive in that
/// order, an insertion looks only at the tail. The timer is set to the earliest lane head. Every member runs under the
/// owner's lock; the owner fails what expired outside it.
/// </summary>
/// <param name="time">The clock.</param>
/// <param name="onTimer">Called on a timer thread when the earliest deadline may have passed.</param>
internal sealed class DeadlineLanes(TimeProvider time, Action onTimer)
{
    private const long Never = long.MaxValue;

    // The longest due time a timer takes (uint.MaxValue - 1 ms, about 49 days); a later deadline is re-armed on firing.
    private static readonly TimeSpan MaxDue = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly List<Lane> _lanes = [];
    private ITimer? _timer;
    private long _armedAt = Never;
    private bool _stopped;

    public long Now => time.GetTimestamp();

    /// <summary>
    /// A due time a timer takes: none below zero, none beyond about 49 days (a timer throws past that). A timer set
    /// short of a later deadline fires early, finds nothing due, and is set again.
    /// </summary>
    public static TimeSpan ClampDue(TimeSpan due) => due < TimeSpan.Zero ? TimeSpan.Zero : due > MaxDue ? MaxDue : due;

    public void Add(DeadlineNode node, Deadline deadline)
    {
        var lane = LaneFor(deadline.Span, deadline.Kind);
        node.DeadlineAt = deadline.At;
        node.Lane = lane;

        // After the last node due no later than this one: the tail, unless this node overtook others on its way here.
        var after = lane.Tail;
        while (after is not null && after.DeadlineAt > deadline.At)
        {
            after = after.LanePrev;
        }

        node.LanePrev = after;
        node.LaneNext = after is null ? lane.Head : after.LaneNext;
        if (after is null)
        {
            lane.Head = node;
        }
        else
        {
            after.LaneNext = node;
        }

        if (node.LaneNext is null)
        {
            lane.Tail = node;
        }
        else
        {
            node.LaneNext.LanePrev = node;
        }

        if (deadline.At < _armedAt)
        {
            Arm(deadline.At);
        }
    }

    /// <summary>Takes a node out of its lane, if it is in one.</summary>
    public static void Remove(DeadlineNode node)
    {
        if (node.Lane is not { } lane)
        {
            return;
        }

        if (node.LanePrev is null)
        {
            lane.Head = node.LaneNext;
        }
        else
        {
            node.LanePrev.LaneNext = node.LaneNext;
        }

        if (node.LaneNext is null)
        {
            lane.Tail = node.LanePrev;
        }
        else
        {
            node.LaneNext.LanePrev = node.LanePrev;
        }

        node.Lane = null;
        node.LaneNext = node.LanePrev = null;

        // The timer is left where it is: firing early finds nothing expired and moves on to the next head.
    }

    /// <summary>The earliest node whose deadline has passed, or null; the caller removes it and asks again.</summary>
    public DeadlineNode? NextExpired(long now)
    {
        foreach (var lane in _lanes)
        {
            if (lane.Head is { } head && head.DeadlineAt <= now)
            {
                return head;
            }
        }

        return null;
    }

    /// <summary>After the timer fired and the expired nodes left: points it at the earliest head that remains.</summary>
    public void Rearm()
    {
        _armedAt = Never;
        var next = Never;
        foreach (var lane in _lanes)
        {
            if (lane.Head is { } head && head.DeadlineAt < next)
            {
                next = head.DeadlineAt;
            }
        }

        if (next != Never)
        {
            Arm(next);
        }
    }

    /// <summary>Stops the timer for good: the owner closed.</summary>
    public void Stop()
    {
        _stopped = true;
        _timer?.Dispose();
        _timer = null;
        _armedAt = Never;
    }

    private void Arm(long at)
    {
        if (_stopped)
        {
            return;
        }

        _armedAt = at;
        var due = ClampDue(time.GetElapsedTime(time.GetTimestamp(), at));
        if (_timer is null)
        {
            _timer = time.CreateTimer(static s => ((Action)s!)(), onTimer, due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private Lane LaneFor(long span, TimeoutKind kind)
    {
        foreach (var lane in _lanes)
        {
            if (lane.Span == span && lane.Kind == kind)
            {
                return lane;
            }
        }

        // Per-request timeouts can bring many spans: empty lanes go before a new one is added.
        _lanes.RemoveAll(static l => l.Head is null);
        var added = new Lane(span, kind);
        _lanes.Add(added);
        return added;
    }

    /// <summary>The nodes of one timeout span and kind, earliest deadline first.</summary>
    internal sealed class Lane(long span, TimeoutKind kind)
    {
        public long Span { get; } = span;

        public TimeoutKind Kind { get; } = kind;

        public DeadlineNode? Head;

        public DeadlineNode? Tail;
    }
}
