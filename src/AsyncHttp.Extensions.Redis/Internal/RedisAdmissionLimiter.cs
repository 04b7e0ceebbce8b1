using System.Threading.RateLimiting;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// A Redis limit as admission takes it: the limiter (or one per host), and the sharing of <c>Retry-After</c> pauses
/// with the fleet on the connectors it is attached to.
/// </summary>
internal sealed class RedisAdmissionLimiter : AdmissionLimiter
{
    private readonly RedisHostPauses? _pauses;

    public RedisAdmissionLimiter(RateLimiter limiter, RedisHostPauses? pauses)
        : base(limiter, ownsLimiter: true)
    {
        _pauses = pauses;
    }

    public RedisAdmissionLimiter(Func<string, RateLimiter> perHost, RedisHostPauses? pauses)
        : base(perHost)
    {
        _pauses = pauses;
    }

    protected override void OnAttached(Connector connector) => _pauses?.Attach(connector);

    protected override void OnDetached(Connector connector) => _pauses?.Detach(connector);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pauses?.Dispose();
        }

        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        _pauses?.Dispose();
        await base.DisposeAsyncCore().ConfigureAwait(false);
    }
}
