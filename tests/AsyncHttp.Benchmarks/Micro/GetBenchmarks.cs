using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Benchmarks.Micro;

/// <summary>
/// One GET of a 13-byte body, read to its end, over a kept-alive loopback connection: raw <see cref="HttpClient"/>
/// over <see cref="SocketsHttpHandler"/> (the limit), <see cref="ClientSession"/>, and a client from
/// <see cref="IHttpClientFactory"/> created per request, plain and on a session (<c>UseClientSession</c>). Each client uses its defaults apart from the limit, and its
/// cheapest way to read a whole body: <c>GetByteArrayAsync</c> for the HttpClients (a non-2xx status throws), the
/// response's <c>ReadAsBytesAsync</c> for the session.
/// </summary>
/// <remarks>
/// Allocated bytes count every thread of the process, so they include the in-process server's share, the same for
/// every client: compare the differences, not the absolute numbers.
/// </remarks>
[MemoryDiagnoser]
public class GetBenchmarks
{
    private const int Limit = 100;

    private LoopbackServer _server = null!;
    private HttpClient _raw = null!;
    private ClientSession _session = null!;
    private ServiceProvider _services = null!;
    private IHttpClientFactory _factory = null!;
    private ServiceProvider _onSession = null!;
    private IHttpClientFactory _sessionFactory = null!;
    private string _url = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = LoopbackServer.StartAsync().GetAwaiter().GetResult();
        _url = _server.Url.ToString();
        _raw = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Limit });
        _session = new ClientSession(new ClientSessionOptions { Limit = Limit });
        _services = new ServiceCollection()
            .AddHttpClient("bench")
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { MaxConnectionsPerServer = Limit })
            .Services
            .BuildServiceProvider();
        _factory = _services.GetRequiredService<IHttpClientFactory>();
        var onSession = new ServiceCollection();
        onSession.AddClientSession("bench", o => o.Limit = Limit);
        onSession.AddHttpClient("bench").UseClientSession("bench");
        _onSession = onSession.BuildServiceProvider();
        _sessionFactory = _onSession.GetRequiredService<IHttpClientFactory>();

        // Each client opens its connection here, so no iteration pays for a connect.
        RawHttpClient().GetAwaiter().GetResult();
        Session().GetAwaiter().GetResult();
        Factory().GetAwaiter().GetResult();
        FactoryOnSession().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _raw.Dispose();
        _session.Dispose();
        _services.Dispose();
        _onSession.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async Task<int> RawHttpClient() => Check(200, await _raw.GetByteArrayAsync(_url));

    [Benchmark]
    public async Task<int> Session()
    {
        await using var response = await _session.GetAsync(_url);
        var body = await response.ReadAsBytesAsync();
        return Check(response.Status, body);
    }

    [Benchmark]
    public async Task<int> Factory() => Check(200, await _factory.CreateClient("bench").GetByteArrayAsync(_url));

    /// <summary>The plain factory's code on a session: <c>AddHttpClient("bench").UseClientSession("bench")</c>.</summary>
    [Benchmark]
    public async Task<int> FactoryOnSession() => Check(200, await _sessionFactory.CreateClient("bench").GetByteArrayAsync(_url));

    private static int Check(int status, byte[] body)
        => status == 200 && body.Length == LoopbackServer.Body.Length
            ? body.Length
            : throw new InvalidOperationException($"Unexpected response: {status}, {body.Length} bytes.");
}
