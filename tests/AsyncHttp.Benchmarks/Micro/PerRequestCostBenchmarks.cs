using BenchmarkDotNet.Attributes;

namespace AsyncHttp.Benchmarks.Micro;

/// <summary>
/// The price of single mechanisms a session request uses, to read the GET benchmarks against: an object with a
/// finalizer (as <see cref="ClientResponse"/> has, suppressed at dispose) against a plain one, the per-request timer
/// of <c>RequestContext</c> (created through <see cref="TimeProvider.System"/>) against raw <see cref="HttpClient"/>'s
/// <c>CancelAfter</c> on its linked source, an uncontended lock taken and released (the session tracks each
/// request with two), and the header-injection check every request passes before the transport.
/// </summary>
[MemoryDiagnoser]
public class PerRequestCostBenchmarks
{
    private readonly Lock _lock = new();
    private readonly HttpRequestMessage _request = CreateRequest();
    private int _counter;

    [Benchmark(Baseline = true)]
    public object PlainObject() => new Plain();

    [Benchmark]
    public object FinalizableObjectSuppressed()
    {
        var o = new Finalizable();
        o.Dispose();
        return o;
    }

    [Benchmark]
    public void TimeProviderTimerCreateDispose()
    {
        using var timer = TimeProvider.System.CreateTimer(static _ => { }, null, TimeSpan.FromMinutes(5), Timeout.InfiniteTimeSpan);
    }

    [Benchmark]
    public void CancellationSourceCancelAfterDispose()
    {
        using var source = new CancellationTokenSource();
        source.CancelAfter(TimeSpan.FromSeconds(100));
    }

    [Benchmark]
    public int TwoLockPairs()
    {
        lock (_lock)
        {
            _counter++;
        }

        lock (_lock)
        {
            _counter--;
        }

        return _counter;
    }

    /// <summary>The check of a request as the session builds one: six headers and a content type, all added as strings.</summary>
    [Benchmark]
    public void HeaderGuardCheck() => AsyncHttp.Internal.HeaderGuard.Check(_request);

    private static HttpRequestMessage CreateRequest()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1/") { Content = new ByteArrayContent([1]) };
        foreach (var name in new[] { "User-Agent", "Accept-Encoding", "X-Tenant", "Authorization", "Cookie", "X-Request-Id" })
        {
            request.Headers.TryAddWithoutValidation(name, "value-of-" + name);
        }

        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        return request;
    }

    private sealed class Plain
    {
#pragma warning disable CS0414, IDE0052 // a field, so that both objects have the same size
        private readonly int _state = 1;
#pragma warning restore CS0414, IDE0052
    }

    private sealed class Finalizable : IDisposable
    {
        private static int s_finalized;
        private int _state = 1;

        ~Finalizable() => Interlocked.Add(ref s_finalized, _state);

        public void Dispose()
        {
            _state = 0;
            GC.SuppressFinalize(this);
        }
    }
}
