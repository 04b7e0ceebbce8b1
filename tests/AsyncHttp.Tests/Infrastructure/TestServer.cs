using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
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

    /// <param name="address">Where to listen: 127.0.0.1 unless given (such as <see cref="IPAddress.IPv6Loopback"/>).</param>
    public static async Task<TestServer> StartAsync(IPAddress? address = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        TestServer? server = null;
        builder.WebHost.UseKestrel(o => o.Listen(address ?? IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
        {
            server!.ConnectionOpened();
            try
            {
                await next(connection);
            }
            finally
            {
                server.ConnectionClosed();
            }
        })));
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

    private void ConnectionOpened()
    {
        Interlocked.Increment(ref _acceptedConnections);
        lock (_sync)
        {
            _openConnections++;
        }
    }

    private void ConnectionClosed()
    {
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
