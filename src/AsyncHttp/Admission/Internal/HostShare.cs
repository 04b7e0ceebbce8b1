namespace AsyncHttp.Internal;

/// <summary>
/// One session's share of one host: the slots it holds there (what the session's own
/// <see cref="ClientSessionOptions.LimitPerHost"/> bounds) and its queue of waiters for the host, in arrival order.
/// Every waiter of a share is held back by the same limits, so only its head can be the next one granted: the
/// connector's dispatch looks at heads only. Every field is guarded by the connector's lock.
/// </summary>
internal sealed class HostShare(ConnectorMember member, HostState host)
{
    public ConnectorMember Member { get; } = member;

    public HostState Host { get; } = host;

    public int InUse;

    public int WaiterCount;

    /// <summary>
    /// The limiters a request of this share must pass besides a slot (the connector's, then the session's), each as the
    /// connector's gate; empty when there are none, and then admission looks at nothing more.
    /// </summary>
    public PermitGate[] Gates = [];

    /// <summary>The dispatch round in which the head was found lacking a permit: the rest of the round passes it over.</summary>
    public long LacksPermitRound;

    /// <summary>
    /// How many grants in a row went to a younger head instead of this share's (whose host had no idle connection, under
    /// a Limit full of connections): see the connector's <c>ReuseFirst</c>. Back to 0 when the share is granted.
    /// </summary>
    public int PassedOver;

    public Waiter? Head;

    public Waiter? Tail;

    /// <summary>True while <paramref name="waiter"/> is linked in this share's queue.</summary>
    public bool Holds(Waiter waiter) => waiter.Prev is not null || ReferenceEquals(Head, waiter);

    public void Enqueue(Waiter waiter)
    {
        waiter.Prev = Tail;
        waiter.Next = null;
        if (Tail is null)
        {
            Head = waiter;
        }
        else
        {
            Tail.Next = waiter;
        }

        Tail = waiter;
        WaiterCount++;
    }

    public void Remove(Waiter waiter)
    {
        if (waiter.Prev is null)
        {
            Head = waiter.Next;
        }
        else
        {
            waiter.Prev.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            Tail = waiter.Prev;
        }
        else
        {
            waiter.Next.Prev = waiter.Prev;
        }

        waiter.Prev = null;
        waiter.Next = null;
        WaiterCount--;
    }
}
