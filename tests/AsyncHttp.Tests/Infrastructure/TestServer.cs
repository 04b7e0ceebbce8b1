using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port 0) whose endpoints the tests steer with signals: requests arrive and
/// are recorded, then wait at a named gate until the test opens it. Nothing here waits on the clock.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _gates = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _chunks = new();
    private readonly ConcurrentQueue<string> _arrivals = new();
    private readonly ConcurrentDictionary<string, int[]> _tags = new();
    private readonly ConcurrentDictionary<string, IConnectionLifetimeNotificationFeature> _lifetimes = new();
    private readonly object _sync = new();
    private readonly List<(int Count, TaskCompletionSource Signal)> _arrivalWaiters = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _connectionWaiters = [];
    private int _inFlight;
    private int _maxInFlight;
    private int _openConnections;
    private int _acceptedConnections;
    private int _arrivalCount;

    private TestServer(WebApplication app)
    {
        _app = app;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public int OpenConnections => Volatile.Read(ref _openConnections);

    public int AcceptedConnections => Volatile.Read(ref _acceptedConnections);

    public IReadOnlyList<string> Arrivals => [.. _arrivals];

    /// <summary>Requests of <c>/hold?tag=</c><paramref name="tag"/> held at the server now.</summary>
    public int InFlightOf(string tag) => Volatile.Read(ref Tag(tag)[0]);

    /// <summary>The most requests of <c>/hold?tag=</c><paramref name="tag"/> ever held at the server at once.</summary>
    public int MaxInFlightOf(string tag) => Volatile.Read(ref Tag(tag)[1]);

    public Uri Url(string pathAndQuery) => new(BaseAddress, pathAndQuery);

    /// <summary>A self-signed certificate for 127.0.0.1 and localhost, made once per test run.</summary>
    public static X509Certificate2 Certificate => LazyCertificate.Value;

    private static readonly Lazy<X509Certificate2> LazyCertificate = new(CreateCertificate);

    /// <param name="address">Where to listen: 127.0.0.1 unless given (such as <see cref="IPAddress.IPv6Loopback"/>).</param>
    /// <param name="protocol">
    /// HTTP/1.1 (the default); HTTP/2 only over cleartext (h2c, prior knowledge); or TLS with the self-signed
    /// <see cref="Certificate"/> offering h2 and http/1.1 by ALPN.
    /// </param>
    /// <param name="maxStreamsPerConnection">The HTTP/2 streams a connection may carry at once (Kestrel's default: 100).</param>
    /// <param name="port">The port to listen on; 0 for a free one.</param>
    public static async Task<TestServer> StartAsync(IPAddress? address = null, ServerProtocol protocol = ServerProtocol.Http1, int? maxStreamsPerConnection = null, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        TestServer? server = null;
        builder.WebHost.UseKestrel(o =>
        {
            if (maxStreamsPerConnection is { } streams)
            {
                o.Limits.Http2.MaxStreamsPerConnection = streams;
            }

            o.Listen(address ?? IPAddress.Loopback, port, listen =>
            {
                listen.Protocols = protocol switch
                {
                    ServerProtocol.H2c => HttpProtocols.Http2,
                    ServerProtocol.Tls => HttpProtocols.Http1AndHttp2,
                    _ => HttpProtocols.Http1,
                };
                listen.Use(next => async connection =>
                {
                    server!.ConnectionOpened(connection);
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        server.ConnectionClosed(connection);
                    }
                });
                if (protocol == ServerProtocol.Tls)
                {
                    listen.UseHttps(Certificate);
                }
            });
        });
        var app = builder.Build();
        server = new TestServer(app);
        server.Map(app);
        await app.StartAsync();
        var listening = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(listening.EndsWith('/') ? listening : listening + "/");
        return server;
    }

    /// <summary>Lets the requests waiting at gate <paramref name="id"/> go on.</summary>
    public void Open(string id) => Gate(id).TrySetResult();

    /// <summary>Lets the <c>/chunks</c> request <paramref name="id"/> send one more chunk.</summary>
    public void ReleaseChunk(string id) => Chunks(id).Release();

    /// <summary>Completes once <paramref name="count"/> requests have arrived at <c>/hold</c> or <c>/slowbody</c>.</summary>
    public Task WhenArrivals(int count) => WhenCount(_arrivalWaiters, ref _arrivalCount, count, atLeast: true);

    /// <summary>Completes once no connection is open at the server.</summary>
    public Task WhenNoOpenConnections() => WhenCount(_connectionWaiters, ref _openConnections, 0, atLeast: false);

    public Task WhenArrived(string id) => Gate("arrived:" + id).Task.WaitAsync(Patience);

    /// <summary>Completes once the client gave up the body of <c>/stream?id=</c><paramref name="id"/> (an HTTP/2 reset, or its connection closed).</summary>
    public Task WhenAborted(string id) => Gate("aborted:" + id).Task.WaitAsync(Patience);

    /// <summary>Whether the client gave up the body of <c>/stream?id=</c><paramref name="id"/>.</summary>
    public bool WasAborted(string id) => Gate("aborted:" + id).Task.IsCompleted;

    /// <summary>Requests held at the server now (<c>/hold</c>, <c>/slowbody</c>, <c>/stream</c>).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public async ValueTask DisposeAsync()
    {
        foreach (var gate in _gates.Values)
        {
            gate.TrySetResult();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private TaskCompletionSource Gate(string id)
        => _gates.GetOrAdd(id, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    private SemaphoreSlim Chunks(string id) => _chunks.GetOrAdd(id, static _ => new SemaphoreSlim(0));

    private void Map(WebApplication app)
    {
        app.MapGet("/ok", () => "hello");
        app.MapMethods("/status/{code:int}", ["GET", "HEAD"], (int code) => Results.StatusCode(code));
        app.MapGet("/retryafter/{code:int}", (HttpContext context, int code, string after) =>
        {
            context.Response.Headers.RetryAfter = after;
            return Results.StatusCode(code);
        });
        app.MapMethods("/big", ["GET", "HEAD"], (int size) => Results.Bytes(new byte[size], "application/octet-stream"));
        app.MapGet("/echo/{**rest}", (HttpRequest request) => request.Path + request.QueryString);
        app.MapGet("/headers", (HttpRequest request) =>
            string.Join('\n', request.Headers.Select(h => $"{h.Key}: {h.Value}")));
        app.MapGet("/hold", async (HttpContext context, string id, string? tag) =>
        {
            // Counted per tag (a session, a priority) before the arrival is announced, and uncounted before the answer.
            var counts = tag is null ? null : Tag(tag);
            if (counts is not null)
            {
                Max(ref counts[1], Interlocked.Increment(ref counts[0]));
            }

            Arrive(id);
            try
            {
                await Gate(id).Task.WaitAsync(Patience, context.RequestAborted);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
                if (counts is not null)
                {
                    Interlocked.Decrement(ref counts[0]);
                }
            }

            return "done:" + id;
        });
        app.MapGet("/slowbody", async (HttpContext context, string id) =>
        {
            Arrive(id);
            try
            {
                context.Response.ContentType = "text/plain";
                await context.Response.StartAsync();
                await context.Response.Body.FlushAsync();
                await Gate(id).Task.WaitAsync(Patience, context.RequestAborted);
                await context.Response.WriteAsync("body:" + id);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        });
        app.MapGet("/chunks", async (HttpContext context, string id, int count) =>
        {
            await context.Response.StartAsync();
            await context.Response.Body.FlushAsync();
            for (var i = 0; i < count; i++)
            {
                await Chunks(id).WaitAsync(Patience, context.RequestAborted);
                await context.Response.WriteAsync($"chunk{i};");
                await context.Response.Body.FlushAsync();
            }
        });
        app.MapGet("/reset", (HttpContext context) => context.Abort());
        app.MapGet("/protocol", (HttpRequest request) => request.Protocol);
        app.MapGet("/goaway", (HttpContext context) =>
        {
            // Closes this request's connection gracefully: with HTTP/2 a GOAWAY, after which the streams already on it
            // finish and new ones go to another connection.
            _lifetimes[context.Connection.Id].RequestClose();
            return "goaway";
        });
        app.MapGet("/stream", async (HttpContext context, string id) =>
        {
            // A body that starts, then waits: for the gate (then ends), or for the client to give it up (signalled).
            await context.Response.StartAsync();
            await context.Response.WriteAsync("first;");
            await context.Response.Body.FlushAsync();
            Arrive(id);
            try
            {
                await Gate(id).Task.WaitAsync(Patience, context.RequestAborted);
                await context.Response.WriteAsync("last");
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                Gate("aborted:" + id).TrySetResult();
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        });
        app.Map("/redirect", (HttpContext context, string to, int? status, string? cookie) =>
        {
            if (cookie is not null)
            {
                context.Response.Headers.Append("Set-Cookie", cookie);
            }

            context.Response.StatusCode = status ?? 302;
            context.Response.Headers.Location = to;
        });
        app.MapGet("/chain/{n:int}", (HttpContext context, int n) =>
        {
            if (n == 0)
            {
                return Results.Text("end");
            }

            return Results.Redirect($"/chain/{n - 1}");
        });
        app.Map("/method", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            return $"{context.Request.Method} {context.Request.ContentType} {body}";
        });
        app.MapGet("/setcookie", (HttpContext context, string cookie) =>
        {
            context.Response.Headers.Append("Set-Cookie", cookie);
            return "set";
        });
        app.MapGet("/cookies/{**path}", (HttpRequest request) => request.Headers.Cookie.ToString());
        app.MapGet("/json", () => Results.Json(new { name = "ada", count = 3 }));
        app.MapGet("/html", () => Results.Content("<html>error</html>", "text/html"));
        app.MapGet("/latin1", () => Results.Bytes(System.Text.Encoding.Latin1.GetBytes("café"), "text/plain; charset=iso-8859-1"));
        app.MapGet("/lines", () => Results.Text("first\nsecond\r\nthird", "text/plain"));
        app.MapMethods("/compressed", ["GET", "HEAD"], (HttpContext context, string encoding, int size) =>
        {
            var output = new MemoryStream();
            using (Stream compressor = encoding switch
            {
                "gzip" => new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
                "deflate" => new System.IO.Compression.ZLibStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
                _ => new System.IO.Compression.BrotliStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
            })
            {
                compressor.Write(new byte[size]);
            }

            context.Response.Headers.ContentEncoding = encoding;
            return Results.Bytes(output.ToArray(), "application/octet-stream");
        });
        app.MapGet("/flaky", (string id) => Gate("flaky:" + id).TrySetResult() ? Results.StatusCode(503) : Results.Text("recovered"));
        app.MapGet("/resetbody", async (HttpContext context, string? id) =>
        {
            context.Response.ContentLength = 1000;
            await context.Response.StartAsync();
            await context.Response.WriteAsync("partial");
            await context.Response.Body.FlushAsync();
            if (id is not null)
            {
                await Gate(id).Task.WaitAsync(Patience, context.RequestAborted);
            }

            context.Abort();
        });
    }

    private static void Max(ref int max, int now)
    {
        int seen;
        while (now > (seen = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, now, seen) != seen)
        {
        }
    }

    private int[] Tag(string tag) => _tags.GetOrAdd(tag, static _ => new int[2]);

    private void Arrive(string id)
    {
        Max(ref _maxInFlight, Interlocked.Increment(ref _inFlight));

        _arrivals.Enqueue(id);
        Gate("arrived:" + id).TrySetResult();
        lock (_sync)
        {
            _arrivalCount++;
            Notify(_arrivalWaiters, _arrivalCount, atLeast: true);
        }
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=AsyncHttp tests", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));

        // Through PKCS#12, so that the key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    private void ConnectionOpened(ConnectionContext connection)
    {
        if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
        {
            _lifetimes[connection.ConnectionId] = lifetime;
        }

        Interlocked.Increment(ref _acceptedConnections);
        lock (_sync)
        {
            _openConnections++;
        }
    }

    private void ConnectionClosed(ConnectionContext connection)
    {
        _lifetimes.TryRemove(connection.ConnectionId, out _);
        lock (_sync)
        {
            _openConnections--;
            Notify(_connectionWaiters, _openConnections, atLeast: false);
        }
    }

    private Task WhenCount(List<(int Count, TaskCompletionSource Signal)> waiters, ref int current, int count, bool atLeast)
    {
        lock (_sync)
        {
            if (atLeast ? current >= count : current == count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters.Add((count, signal));
            return signal.Task.WaitAsync(Patience);
        }
    }

    private static void Notify(List<(int Count, TaskCompletionSource Signal)> waiters, int current, bool atLeast)
    {
        for (var i = waiters.Count - 1; i >= 0; i--)
        {
            if (atLeast ? current >= waiters[i].Count : current == waiters[i].Count)
            {
                waiters[i].Signal.TrySetResult();
                waiters.RemoveAt(i);
            }
        }
    }
}
