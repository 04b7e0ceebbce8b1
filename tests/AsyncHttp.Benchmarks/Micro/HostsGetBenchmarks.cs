using BenchmarkDotNet.Attributes;

namespace AsyncHttp.Benchmarks.Micro;

/// <summary>
/// One GET of a 13-byte body, read to its end, against one host or alternating between two, with a per-host limit on
/// two (so the connector's per-host path runs on each request and its "last host" shortcut misses): raw
/// <see cref="HttpClient"/> with the same limits (<c>MaxConnectionsPerServer</c>) as the baseline, and
/// <see cref="ClientSession"/>. The ratio and its spread (RatioSD) are the measure of the session's cost.
/// </summary>
/// <remarks>
/// Both servers run in this process, so their cost is in both clients' numbers alike: compare differences (µs) and
/// ratios, not absolute times. Allocated bytes count every thread, the servers' too.
/// </remarks>
[MemoryDiagnoser]
public class HostsGetBenchmarks
{
    private const int Limit = 100;
    private const int LimitPerHost = 10;

    private LoopbackServer[] _servers = [];
    private string[] _urls = [];
    private HttpClient _raw = null!;
    private ClientSession _session = null!;
    private int _nextRaw;
    private int _nextSession;

    /// <summary>1: every request to one host, no per-host limit; 2: alternating hosts, each limited to 10.</summary>
    [Params(1, 2)]
    public int Hosts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _servers = [.. Enumerable.Range(0, Hosts).Select(_ => LoopbackServer.StartAsync().GetAwaiter().GetResult())];
        _urls = [.. _servers.Select(s => s.Url.ToString())];
        var perHost = Hosts == 1 ? 0 : LimitPerHost;
        _raw = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = perHost == 0 ? Limit : perHost });
        _session = new ClientSession(new ClientSessionOptions { Limit = Limit, LimitPerHost = perHost });

        // Each client opens its connections here, so no iteration pays for a connect.
        for (var i = 0; i < Hosts; i++)
        {
            RawHttpClient().GetAwaiter().GetResult();
            Session().GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _raw.Dispose();
        _session.Dispose();
        foreach (var server in _servers)
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    [Benchmark(Baseline = true)]
    public async Task<int> RawHttpClient() => Check(200, await _raw.GetByteArrayAsync(_urls[_nextRaw++ % Hosts]));

    [Benchmark]
    public async Task<int> Session()
    {
        await using var response = await _session.GetAsync(_urls[_nextSession++ % Hosts]);
        var body = await response.ReadAsBytesAsync();
        return Check(response.Status, body);
    }

    private static int Check(int status, byte[] body)
        => status == 200 && body.Length == LoopbackServer.Body.Length
            ? body.Length
            : throw new InvalidOperationException($"Unexpected response: {status}, {body.Length} bytes.");
}
