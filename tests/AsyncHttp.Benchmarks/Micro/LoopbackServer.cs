using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Benchmarks.Micro;

/// <summary>
/// An in-process Kestrel server on 127.0.0.1 (port 0) answering every request with the same small body. It runs in
/// the benchmark process, so its own per-request allocations are in every client's numbers alike.
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    /// <summary>The 13-byte body, the same as the load comparison's small file.</summary>
    public static readonly byte[] Body = "Hello, world!"u8.ToArray();

    private readonly WebApplication _app;

    private LoopbackServer(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The URL of the small body.</summary>
    public Uri Url { get; }

    /// <param name="onRequest">Called as each request arrives, before it is answered (the <c>ratelimit</c> command counts arrivals).</param>
    public static async Task<LoopbackServer> StartAsync(Action? onRequest = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(context =>
        {
            onRequest?.Invoke();
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = Body.Length;
            return context.Response.Body.WriteAsync(Body).AsTask();
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LoopbackServer(app, new Uri(new Uri(address), "/small"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
