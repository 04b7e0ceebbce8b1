using System.Threading.RateLimiting;

namespace AsyncHttp.Internal;

/// <summary>
/// What the connector decided under its lock but must do outside it, since it may call into a limiter (which may block
/// on its own lock or do I/O): start an acquisition, give a permit back, cancel an acquisition no one needs.
/// </summary>
internal readonly record struct DeferredWork(PermitGate? Start, RateLimitLease? Dispose, CancellationTokenSource? Cancel);
