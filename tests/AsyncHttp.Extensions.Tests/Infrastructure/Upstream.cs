using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port 0) that counts its open TCP connections, echoes request headers, and holds
/// requests until a test releases them.
/// </summary>
internal sealed class Upstream : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, Hold> _holds = new();
    private WebApplication? _app;
    private int _open;
    private int _opened;
    private TaskCompletionSource? _allClosed;

    private Upstream()
    {
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>TCP connections accepted so far.</summary>
    public int ConnectionsOpened
    {
        get
        {
            lock (_lock)
            {
                return _opened;
            }
        }
    }

    public int OpenConnections
    {
        get
        {
            lock (_lock)
            {
                return _open;
            }
        }
    }

    /// <summary>The requests seen, with the query string, in arrival order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<Upstream> StartAsync()
    {
        var upstream = new Upstream();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
        {
            upstream.ConnectionOpened();
            try
            {
                await next(connection);
            }
            finally
            {
                upstream.ConnectionClosed();
            }
        })));

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            upstream.Requests.Enqueue(context.Request.Path + context.Request.QueryString);
            await next(context);
        });
        app.MapGet("/ok", () => "ok");
        app.MapGet("/echo/{header}", (string header, HttpRequest request) => request.Headers.TryGetValue(header, out var value) ? value.ToString() : "(none)");
        app.MapGet("/hold/{id}", async (string id, HttpContext context) =>
        {
            var hold = upstream.Hold(id);
            hold.Arrived.TrySetResult();
            await hold.Release.Task.WaitAsync(context.RequestAborted);
            return $"released {id}";
        });
        app.MapGet("/abort", (HttpContext context) =>
        {
            context.Abort();
            return Results.Empty;
        });

        await app.StartAsync();
        upstream._app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        upstream.BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/");
        return upstream;
    }

    /// <summary>The hold for <paramref name="id"/>: <c>GET /hold/{id}</c> signals Arrived and answers once Release is set.</summary>
    public Hold Hold(string id) => _holds.GetOrAdd(id, static _ => new Hold());

    public Uri Url(string relative) => new(BaseAddress, relative);

    /// <summary>Completes when no TCP connection is open.</summary>
    public Task WhenAllConnectionsClosedAsync()
    {
        lock (_lock)
        {
            if (_open == 0)
            {
                return Task.CompletedTask;
            }

            _allClosed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _allClosed.Task;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var hold in _holds.Values)
        {
            hold.Release.TrySetResult();
        }

        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private void ConnectionOpened()
    {
        lock (_lock)
        {
            _open++;
            _opened++;
        }
    }

    private void ConnectionClosed()
    {
        lock (_lock)
        {
            _open--;
            if (_open == 0 && _allClosed is not null)
            {
                _allClosed.TrySetResult();
                _allClosed = null;
            }
        }
    }
}

internal sealed class Hold
{
    public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
