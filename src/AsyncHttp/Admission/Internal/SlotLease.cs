namespace AsyncHttp.Internal;

/// <summary>A slot held for one response; <see cref="Release"/> gives it back exactly once.</summary>
internal sealed class SlotLease(Connector connector, HostState host)
{
    private int _released;

    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>Gives the slot back; true for the call that did it.</summary>
    public bool Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return false;
        }

        connector.Release(host);
        return true;
    }
}
