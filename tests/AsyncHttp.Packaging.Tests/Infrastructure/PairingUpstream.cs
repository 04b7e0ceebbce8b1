using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Packaging.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 for the consumer app. <c>/item/{n}</c> answers in pairs: request n waits for
/// its partner (1 with 2, 3 with 4, ...) to arrive first. A client that keeps two requests in flight gets every
/// answer; one that keeps fewer never gets a partner (and the wait runs out); one that sends more shows it in
/// <see cref="MaxInFlight"/>. No clock is involved.
/// </summary>
internal sealed class PairingUpstream : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<int, TaskCompletionSource> _arrived = new();
    private readonly ConcurrentQueue<string> _userAgents = new();
    private WebApplication _app = null!;
    private int _inFlight;
    private int _maxInFlight;

    public Uri BaseAddress { get; private set; } = null!;

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public IReadOnlyCollection<string> UserAgents => [.. _userAgents];

    public static async Task<PairingUpstream> StartAsync()
    {
        var upstream = new PairingUpstream();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/item/{n:int}", upstream.ItemAsync);
        app.MapGet("/health", () => "ok");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        upstream._app = app;
        upstream.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return upstream;
    }

    private async Task<string> ItemAsync(int n, HttpContext context)
    {
        _userAgents.Enqueue(context.Request.Headers.UserAgent.ToString());
        var now = Interlocked.Increment(ref _inFlight);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }

        try
        {
            Arrived(n).TrySetResult();
            var partner = n % 2 == 1 ? n + 1 : n - 1;
            await Arrived(partner).Task.WaitAsync(Patience, context.RequestAborted);
            return $"item:{n}";
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private TaskCompletionSource Arrived(int n)
        => _arrived.GetOrAdd(n, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
