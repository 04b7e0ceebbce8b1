using AsyncHttp.Internal;
using BenchmarkDotNet.Attributes;

namespace AsyncHttp.Benchmarks.Micro;

/// <summary>
/// The connector alone, without HTTP: an uncontended admission (a free slot taken and given back), and a contended
/// one where 10,000 requests queue behind a full limit and are then admitted one by one as slots are released.
/// </summary>
/// <remarks>
/// The contended cases report per waiter (<see cref="BenchmarkAttribute.OperationsPerInvoke"/>): the bytes a queued
/// request costs the connector. <c>WithToken</c> registers each waiter with a cancellable token, as a session
/// request does; the token is shared here, so the registration node is reused from its source's free list, whereas a
/// session request brings a fresh source and pays for its node (counted in the GET benchmarks).
/// </remarks>
[MemoryDiagnoser]
public class AdmissionBenchmarks
{
    private const int Waiters = 10_000;

    private readonly HostKey _key = new("http", "127.0.0.1", 8080);
    private readonly ValueTask<Connector.SlotLease>[] _pending = new ValueTask<Connector.SlotLease>[Waiters];
    private readonly CancellationTokenSource _cts = new();
    private Connector _free = null!;
    private Connector _full = null!;
    private ConnectorMember _onFree = null!;
    private ConnectorMember _onFull = null!;
    private Connector.SlotLease _held = null!;

    [GlobalSetup]
    public void Setup()
    {
        _free = new Connector("bench", limit: 100, limitPerHost: 0, queueLimit: 0);
        _full = new Connector("bench", limit: 1, limitPerHost: 0, queueLimit: 0);
        _onFree = _free.Join("bench", new SessionCaps(100, 0, 0, 0));
        _onFull = _full.Join("bench", new SessionCaps(1, 0, 0, 0));
        _held = _full.AcquireAsync(_onFull, _key, CancellationToken.None).Result;
    }

    [GlobalCleanup]
    public void Cleanup() => _cts.Dispose();

    [Benchmark]
    public object Uncontended()
    {
        var lease = _free.AcquireAsync(_onFree, _key, CancellationToken.None).Result;
        lease.Release();
        return lease;
    }

    [Benchmark]
    public object UncontendedWithToken()
    {
        var lease = _free.AcquireAsync(_onFree, _key, _cts.Token).Result;
        lease.Release();
        return lease;
    }

    [Benchmark(OperationsPerInvoke = Waiters)]
    public object Contended() => QueueAndDrain(CancellationToken.None);

    [Benchmark(OperationsPerInvoke = Waiters)]
    public object ContendedWithToken() => QueueAndDrain(_cts.Token);

    private Connector.SlotLease QueueAndDrain(CancellationToken cancellationToken)
    {
        // The limit is 1 and held: every acquire below queues.
        for (var i = 0; i < Waiters; i++)
        {
            _pending[i] = _full.AcquireAsync(_onFull, _key, cancellationToken);
        }

        // Each release hands the slot to the oldest waiter, which then holds it until the next release.
        var held = _held;
        for (var i = 0; i < Waiters; i++)
        {
            held.Release();
            held = _pending[i].Result;
        }

        _held = held;
        return held;
    }
}
