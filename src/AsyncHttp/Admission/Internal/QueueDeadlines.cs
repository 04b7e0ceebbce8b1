namespace AsyncHttp.Internal;

/// <summary>
/// The deadlines of the connector's queued requests behind one timer, so that a waiting request costs no timer and no
/// cancellation source of its own. Requests with the same timeout span expire in arrival order, so each span is a FIFO
/// lane and the timer is set to the earliest lane head. Every member runs under the connector's lock.
/// </summary>
/// <remarks>
/// A request reads its start time just before it queues, so two racing requests may enter a lane in the opposite
/// order of their starts; the later one then expires when the one ahead of it does, a few microseconds late.
/// </remarks>
internal sealed class QueueDeadlines(TimeProvider time, Action onTimer)
{
    private const long Never = long.MaxValue;

    // The longest due time a timer takes (uint.MaxValue - 1 ms, about 49 days); a later deadline is re-armed on firing.
    private static readonly TimeSpan MaxDue = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly List<Lane> _lanes = [];
    private ITimer? _timer;
    private long _armedAt = Never;

    public long Now => time.GetTimestamp();

    public void Add(Waiter waiter, QueueDeadline deadline)
    {
        var lane = LaneFor(deadline.Span, deadline.Kind);
        waiter.DeadlineAt = deadline.At;
        waiter.Lane = lane;
        waiter.LanePrev = lane.Tail;
        if (lane.Tail is null)
        {
            lane.Head = waiter;
        }
        else
        {
            lane.Tail.LaneNext = waiter;
        }

        lane.Tail = waiter;
        if (deadline.At < _armedAt)
        {
            Arm(deadline.At);
        }
    }

    /// <summary>Takes a waiter out of its lane, if it is in one.</summary>
    public static void Remove(Waiter waiter)
    {
        if (waiter.Lane is not { } lane)
        {
            return;
        }

        if (waiter.LanePrev is null)
        {
            lane.Head = waiter.LaneNext;
        }
        else
        {
            waiter.LanePrev.LaneNext = waiter.LaneNext;
        }

        if (waiter.LaneNext is null)
        {
            lane.Tail = waiter.LanePrev;
        }
        else
        {
            waiter.LaneNext.LanePrev = waiter.LanePrev;
        }

        waiter.Lane = null;
        waiter.LaneNext = waiter.LanePrev = null;

        // The timer is left where it is: firing early finds nothing expired and moves on to the next head.
    }

    /// <summary>The oldest waiter whose deadline has passed, or null; the caller unlinks it and asks again.</summary>
    public Waiter? NextExpired(long now)
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

    /// <summary>After the timer fired and the expired waiters left: points it at the earliest head that remains.</summary>
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

    /// <summary>Stops the timer for good (the connector closed).</summary>
    public void Stop()
    {
        _timer?.Dispose();
        _timer = null;
        _armedAt = Never;
    }

    private void Arm(long at)
    {
        _armedAt = at;
        var due = time.GetElapsedTime(time.GetTimestamp(), at);
        due = due < TimeSpan.Zero ? TimeSpan.Zero : due > MaxDue ? MaxDue : due;

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

    /// <summary>The waiters of one timeout span and kind, oldest first.</summary>
    internal sealed class Lane(long span, TimeoutKind kind)
    {
        public long Span { get; } = span;

        public TimeoutKind Kind { get; } = kind;

        public Waiter? Head;

        public Waiter? Tail;
    }
}
