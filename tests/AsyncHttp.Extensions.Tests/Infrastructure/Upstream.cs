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
    private readonly ConcurrentDictionary<string, int> _flaky = new();
    private readonly TaskCompletionSource _slotsOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(int Count, TaskCompletionSource Signal)> _slotWaiters = [];
    private int _slotsInFlight;
    private int _slotArrivals;
    private int _maxSlotsInFlight;
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

    /// <summary>The most <c>/slot/{id}</c> requests the server held at once.</summary>
    public int MaxSlotsInFlight
    {
        get
        {
            lock (_lock)
            {
                return _maxSlotsInFlight;
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
        app.MapGet("/slot/{id}", async (string id, HttpContext context) =>
        {
            upstream.SlotArrived();
            try
            {
                await upstream._slotsOpen.Task.WaitAsync(context.RequestAborted);
            }
            finally
            {
                upstream.SlotLeft();
            }

            return $"slot {id}";
        });
        app.MapGet("/flaky/{id}", (string id) => upstream._flaky.AddOrUpdate(id, 1, static (_, n) => n + 1) == 1
            ? Results.Text("try again", statusCode: 503)
            : Results.Text($"recovered {id}"));
        app.MapGet("/big/{size:int}", (int size) => Results.Bytes(new byte[size], "application/octet-stream"));
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

    /// <summary>Lets every <c>/slot/{id}</c> request answer, those held now and those to come.</summary>
    public void OpenSlots() => _slotsOpen.TrySetResult();

    /// <summary>Completes once <paramref name="count"/> <c>/slot/{id}</c> requests have arrived.</summary>
    public Task WhenSlotArrivals(int count)
    {
        lock (_lock)
        {
            if (_slotArrivals >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _slotWaiters.Add((count, signal));
            return signal.Task.WaitAsync(Patience);
        }
    }

    private void SlotArrived()
    {
        lock (_lock)
        {
            _slotArrivals++;
            _maxSlotsInFlight = Math.Max(_maxSlotsInFlight, ++_slotsInFlight);
            for (var i = _slotWaiters.Count - 1; i >= 0; i--)
            {
                if (_slotArrivals >= _slotWaiters[i].Count)
                {
                    _slotWaiters[i].Signal.TrySetResult();
                    _slotWaiters.RemoveAt(i);
                }
            }
        }
    }

    private void SlotLeft()
    {
        lock (_lock)
        {
            _slotsInFlight--;
        }
    }

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

        OpenSlots();

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
