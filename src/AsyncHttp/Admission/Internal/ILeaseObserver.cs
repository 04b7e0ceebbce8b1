namespace AsyncHttp.Internal;

/// <summary>Told when a <see cref="Connector.SlotLease"/> gives its slot back, by whichever way it went.</summary>
internal interface ILeaseObserver
{
    /// <summary>Called after the slot went back; may be called twice for one lease, and must tolerate it.</summary>
    void OnReleased(Connector.SlotLease lease);
}
