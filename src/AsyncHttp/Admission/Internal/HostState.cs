namespace AsyncHttp.Internal;

/// <summary>
/// The slots and the waiters of one host. Every field is guarded by the connector's lock. A request never holds a
/// host directly: it holds a <see cref="Connector.SlotLease"/>, which alone gives the slot back.
/// </summary>
internal sealed class HostState(Connector connector, HostKey key)
{
    /// <summary>The connector the host belongs to: a waiter or a lease reaches it from here, not from a field of its own.</summary>
    public Connector Connector { get; } = connector;

    public HostKey Key { get; } = key;

    public int InUse;

    public int OpenConnections;

    /// <summary>Connects waiting for a connection to this host to close (rare: only while one is closing).</summary>
    public Queue<TaskCompletionSource>? ConnectionWaiters;

    public int WaiterCount;

    public Waiter? Head;

    public Waiter? Tail;

    public bool IsIdle => InUse == 0 && WaiterCount == 0 && OpenConnections == 0 && ConnectionWaiters is not { Count: > 0 };

    /// <summary>True while <paramref name="waiter"/> is linked in this host's queue.</summary>
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
