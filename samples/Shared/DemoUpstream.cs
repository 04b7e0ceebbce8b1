using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Samples;

/// <summary>
/// A small HTTP server on 127.0.0.1 (random port) that stands in for a real upstream, so that the samples run
/// offline. Its answers are deterministic: the latency and size of <c>/item/{id}</c> depend only on the id.
/// </summary>
/// <remarks>
/// Endpoints: <c>GET /health</c> answers <c>ok</c> at once; <c>GET /item/{id}</c> answers a JSON document of
/// <see cref="MinSize"/> to <see cref="MaxSize"/> bytes after <see cref="MinLatencyMs"/> to <see cref="MaxLatencyMs"/> ms.
/// </remarks>
internal sealed class DemoUpstream : IAsyncDisposable
{
    public const int MinLatencyMs = 5;
    public const int MaxLatencyMs = 50;
    public const int MinSize = 100;
    public const int MaxSize = 64 * 1024;

    private readonly WebApplication _app;

    private DemoUpstream(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>The server's address, ending in <c>/</c>: <c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseAddress { get; }

    public static async Task<DemoUpstream> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/health", () => Results.Text("ok"));
        app.MapGet("/item/{id:int}", WriteItemAsync);
        await app.StartAsync(cancellationToken);

        // With port 0 the bound address is known only once the server has started.
        var address = app.Urls.First();
        return new DemoUpstream(app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>The latency and body size of <c>/item/{id}</c>, fixed by the id.</summary>
    public static (TimeSpan Latency, int Size) ShapeOf(int id)
    {
        // An integer hash spreads consecutive ids over the whole range.
        var h = (uint)id;
        h ^= h >> 16;
        h *= 0x7FEB352Du;
        h ^= h >> 15;
        h *= 0x846CA68Bu;
        h ^= h >> 16;
        var latency = MinLatencyMs + (int)(h % (MaxLatencyMs - MinLatencyMs + 1));
        var size = MinSize + (int)(h / (MaxLatencyMs - MinLatencyMs + 1) % (MaxSize - MinSize + 1));
        return (TimeSpan.FromMilliseconds(latency), size);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static async Task WriteItemAsync(int id, HttpContext context)
    {
        var (latency, size) = ShapeOf(id);
        await Task.Delay(latency, context.RequestAborted);

        // {"id":7,"latencyMs":23,"size":1234,"data":"abc..."}, padded so that the body is exactly `size` bytes.
        var head = $"{{\"id\":{id},\"latencyMs\":{(int)latency.TotalMilliseconds},\"size\":{size},\"data\":\"";
        const string Tail = "\"}";
        var body = new byte[size];
        var written = Encoding.ASCII.GetBytes(head, body);
        for (var i = written; i < size - Tail.Length; i++)
        {
            body[i] = (byte)('a' + (i % 26));
        }

        Encoding.ASCII.GetBytes(Tail, body.AsSpan(size - Tail.Length));
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = size;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }
}
