using System.Net;
using Flurl.Http;
using Flurl.Http.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Benchmarks.Load;

/// <summary>
/// One of the compared .NET clients, set up as a user would (its defaults) apart from the connection limits: a GET
/// whose body is read to its end. Returns the body length; throws on a failed request or a status other than 200.
/// </summary>
internal abstract class LoadClient : IAsyncDisposable
{
    /// <param name="name">The client.</param>
    /// <param name="limit">The total limit (the session's; raw has none across hosts).</param>
    /// <param name="limitPerHost">The per-host limit.</param>
    /// <param name="configureSession">More session settings.</param>
    /// <param name="http2">
    /// HTTP/2 over TLS (ALPN), accepting the server's self-signed certificate: the session with <c>Version</c> 2.0, raw
    /// <see cref="HttpClient"/> at <see cref="HttpVersion.Version20"/> with multiple HTTP/2 connections on, as the
    /// session's transport has them. Only those two clients.
    /// </param>
    /// <param name="transport">
    /// The handler every client sends through in place of its sockets (the session's <c>TransportFactory</c>, the
    /// factory's primary handler, raw's handler); null for the network. Not for Flurl or HTTP/2.
    /// </param>
    public static LoadClient Create(string name, int limit, int limitPerHost, Action<ClientSessionOptions>? configureSession = null, bool http2 = false, Func<HttpMessageHandler>? transport = null)
    {
        if (transport is null)
        {
            return Create(name, limit, limitPerHost, configureSession, http2);
        }

        return name switch
        {
            "session" => new SessionClient(limit, limitPerHost, OnTransport),
            "raw" => new RawClient(limit, limitPerHost, transport: transport),
            "factory" => new FactoryClient(limit, limitPerHost, transport),
            "factory-session" => new FactorySessionClient(limit, limitPerHost, OnTransport),
            _ => throw new ArgumentException($"Client '{name}' has no transport of its own here: session, raw, factory or factory-session.", nameof(name)),
        };

        void OnTransport(ClientSessionOptions options)
        {
            options.TransportFactory = _ => transport();
            configureSession?.Invoke(options);
        }
    }

    private static LoadClient Create(string name, int limit, int limitPerHost, Action<ClientSessionOptions>? configureSession, bool http2) => (name, http2) switch
    {
        ("session", true) => new SessionClient(limit, limitPerHost, o =>
        {
            o.Version = HttpVersion.Version20;
            o.DangerousAcceptAnyServerCertificate = true;
            configureSession?.Invoke(o);
        }),
        ("raw", true) => new RawClient(limit, limitPerHost, http2: true),
        (_, true) => throw new ArgumentException($"Client '{name}' has no HTTP/2 setup here: session or raw.", nameof(name)),
        ("session", _) => new SessionClient(limit, limitPerHost, configureSession),
        ("raw", _) => new RawClient(limit, limitPerHost),
        ("factory", _) => new FactoryClient(limit, limitPerHost),
        ("factory-session", _) => new FactorySessionClient(limit, limitPerHost, configureSession),
        ("flurl", _) => new FlurlLoadClient(limit, limitPerHost),
        _ => throw new ArgumentException($"Unknown client '{name}': session, raw, factory, factory-session or flurl.", nameof(name)),
    };

    public abstract Task<int> GetAsync(string url);

    /// <summary>The HTTP version of one response, to check that a run measures the protocol it claims.</summary>
    public virtual Task<Version?> ProbeVersionAsync(string url) => Task.FromResult<Version?>(null);

    /// <summary>The connections the client itself counted, if it counts them.</summary>
    public virtual long? ConnectionsOpened => null;

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// The handler's own limit: <see cref="SocketsHttpHandler.MaxConnectionsPerServer"/> is per host, so a per-host
    /// limit maps to it; a total limit across hosts has no equivalent in the handler.
    /// </summary>
    protected static int PerServer(int limit, int limitPerHost) => limitPerHost > 0 ? limitPerHost : limit > 0 ? limit : int.MaxValue;

    protected static SocketsHttpHandler Handler(int limit, int limitPerHost)
        => new() { MaxConnectionsPerServer = PerServer(limit, limitPerHost) };

    private sealed class SessionClient(int limit, int limitPerHost, Action<ClientSessionOptions>? configure) : LoadClient
    {
        private readonly ClientSession _session = new(Options(limit, limitPerHost, configure));

        private static ClientSessionOptions Options(int limit, int limitPerHost, Action<ClientSessionOptions>? configure)
        {
            var options = new ClientSessionOptions { Limit = limit, LimitPerHost = limitPerHost };
            configure?.Invoke(options);
            return options;
        }

        public override async Task<int> GetAsync(string url)
        {
            await using var response = await _session.GetAsync(url);
            if (response.Status != 200)
            {
                throw new HttpRequestException($"Status {response.Status}.");
            }

            var body = await response.ReadAsBytesAsync();
            return body.Length;
        }

        public override async Task<Version?> ProbeVersionAsync(string url)
        {
            // Read to its end, as raw's GetAsync does: a response disposed unread closes its connection, and the
            // workload would make it again (an 11th connection to a port limited to 10).
            await using var response = await _session.GetAsync(url);
            await response.ReadAsBytesAsync();
            return response.Version;
        }

        public override long? ConnectionsOpened => _session.Connector.Stats.ConnectionsOpened;

        public override ValueTask DisposeAsync() => _session.DisposeAsync();
    }

    /// <summary>
    /// Raw <see cref="HttpClient"/> over <see cref="SocketsHttpHandler"/>, with its cheapest way to read a body:
    /// <see cref="HttpClient.GetByteArrayAsync(string)"/> (it throws for a status outside 2xx).
    /// </summary>
    private sealed class RawClient(int limit, int limitPerHost, bool http2 = false, Func<HttpMessageHandler>? transport = null) : LoadClient
    {
        private readonly HttpClient _client = transport is null ? Client(limit, limitPerHost, http2) : new HttpClient(transport());

        public override async Task<int> GetAsync(string url) => (await _client.GetByteArrayAsync(url)).Length;

        public override async Task<Version?> ProbeVersionAsync(string url)
        {
            using var response = await _client.GetAsync(url);
            return response.Version;
        }

        private static HttpClient Client(int limit, int limitPerHost, bool http2)
        {
            var handler = Handler(limit, limitPerHost);
            if (!http2)
            {
                return new HttpClient(handler);
            }

            handler.EnableMultipleHttp2Connections = true;
#pragma warning disable CA5359 // The local nginx of run-load.sh has a self-signed certificate.
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
            return new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20 };
        }

        public override ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary><see cref="IHttpClientFactory"/> as documented: a named client, <c>CreateClient</c> per request.</summary>
    private sealed class FactoryClient : LoadClient
    {
        private readonly ServiceProvider _services;
        private readonly IHttpClientFactory _factory;

        public FactoryClient(int limit, int limitPerHost, Func<HttpMessageHandler>? transport = null)
        {
            _services = new ServiceCollection()
                .AddHttpClient("load")
                .ConfigurePrimaryHttpMessageHandler(() => transport?.Invoke() ?? Handler(limit, limitPerHost))
                .Services
                .BuildServiceProvider();
            _factory = _services.GetRequiredService<IHttpClientFactory>();
        }

        public override async Task<int> GetAsync(string url) => (await _factory.CreateClient("load").GetByteArrayAsync(url)).Length;

        public override ValueTask DisposeAsync() => _services.DisposeAsync();
    }

    /// <summary>
    /// The plain factory's code (a named client, <c>CreateClient</c> per request, <c>GetByteArrayAsync</c>) on a session:
    /// <c>AddHttpClient("load").UseClientSession("load")</c>. The limits are the session's: <c>Limit</c> across hosts.
    /// </summary>
    private sealed class FactorySessionClient : LoadClient
    {
        private readonly ServiceProvider _services;
        private readonly IHttpClientFactory _factory;

        public FactorySessionClient(int limit, int limitPerHost, Action<ClientSessionOptions>? configure)
        {
            var services = new ServiceCollection();
            services.AddClientSession("load", o =>
            {
                o.Limit = limit;
                o.LimitPerHost = limitPerHost;
                configure?.Invoke(o);
            });
            services.AddHttpClient("load").UseClientSession("load");
            _services = services.BuildServiceProvider();
            _factory = _services.GetRequiredService<IHttpClientFactory>();
        }

        public override async Task<int> GetAsync(string url) => (await _factory.CreateClient("load").GetByteArrayAsync(url)).Length;

        // The registry, a singleton of the provider, closes the session.
        public override ValueTask DisposeAsync() => _services.DisposeAsync();
    }

    /// <summary>Flurl 4 as documented: one <see cref="IFlurlClient"/>, built with the limit on its inner handler.</summary>
    private sealed class FlurlLoadClient(int limit, int limitPerHost) : LoadClient
    {
        private readonly IFlurlClient _client = new FlurlClientBuilder()
            .ConfigureInnerHandler(h => h.MaxConnectionsPerServer = PerServer(limit, limitPerHost))
            .Build();

        public override async Task<int> GetAsync(string url)
        {
            var body = await _client.Request(url).GetBytesAsync();
            return body.Length;
        }

        public override ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
