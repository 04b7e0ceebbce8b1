namespace AsyncHttp.Internal;

/// <summary>
/// What guards a body's slot against a leak with a finalizer (a <see cref="ClientResponse"/> or a
/// <see cref="ReleasingContent"/>), as the body stream sees it: kept reachable while the stream is, and told when the
/// stream gave the slot back.
/// </summary>
internal interface IBodyGuard
{
    /// <summary>
    /// The slot is back: nothing is left for the finalizer to reclaim, so the guard drops out of the finalizer queue.
    /// <see cref="HttpClient"/>'s <c>GetByteArrayAsync</c> and the like dispose the body stream, never the response; a
    /// guard left in the queue would keep the whole response alive through a collection.
    /// </summary>
    void OnSlotReleased();
}
