using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Redis.Tests.Infrastructure;

/// <summary>
/// A real Kestrel upstream on 127.0.0.1 that counts what a fleet does to it: requests in flight (the most at once, and
/// how long it spent at each count), every arrival with its time and the worker that sent it. <c>/work?ms=</c> answers
/// after that long; <c>/hold</c> answers when the test opens it; <c>/limited?ms=</c> answers 429 with
/// <c>Retry-After</c> the first time and 200 after that long otherwise.
/// </summary>
public sealed class CountingUpstream : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(TimeSpan At, string Worker, string Path)> _arrivals = [];
    private readonly Dictionary<int, TimeSpan> _timeAt = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _dropWaiters = [];
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication _app = null!;
    private int _inFlight;
    private int _maxInFlight;
    private TimeSpan _changedAt;
    private int _limited;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The Retry-After, in seconds, of the first answer of /limited.</summary>
    public int RetryAfterSeconds { get; set; } = 2;

    public int MaxInFlight
    {
        get
        {
            lock (_lock)
            {
                return _maxInFlight;
            }
        }
    }

    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    public TimeSpan Now => _clock.Elapsed;

    public List<(TimeSpan At, string Worker, string Path)> Arrivals
    {
        get
        {
            lock (_lock)
            {
                return [.. _arrivals];
            }
        }
    }

    /// <summary>How long the upstream spent with exactly <paramref name="count"/> requests in flight, so far.</summary>
    public TimeSpan TimeAt(int count)
    {
        lock (_lock)
        {
            var spent = _timeAt.GetValueOrDefault(count);
            return _inFlight == count ? spent + (_clock.Elapsed - _changedAt) : spent;
        }
    }

    public static async Task<CountingUpstream> StartAsync()
    {
        var upstream = new CountingUpstream();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/work", async (HttpContext context, int ms) =>
        {
            upstream.Enter(context, "work");
            try
            {
                await Task.Delay(ms, context.RequestAborted);
            }
            finally
            {
                upstream.Leave();
            }

            return "done";
        });
        app.MapGet("/hold", async (HttpContext context) =>
        {
            upstream.Enter(context, "hold");
            try
            {
                await upstream._opened.Task.WaitAsync(RedisServer.Patience * 4, context.RequestAborted);
            }
            finally
            {
                upstream.Leave();
            }

            return "done";
        });
        app.MapGet("/limited", async (HttpContext context, int? ms) =>
        {
            upstream.Enter(context, "limited");
            try
            {
                if (Interlocked.Increment(ref upstream._limited) == 1)
                {
                    context.Response.Headers.RetryAfter = upstream.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    return Results.StatusCode(429);
                }

                await Task.Delay(ms ?? 0, context.RequestAborted);
                return Results.Text("ok");
            }
            finally
            {
                upstream.Leave();
            }
        });
        await app.StartAsync();
        upstream._app = app;
        upstream.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return upstream;
    }

    /// <summary>Counts the most in flight from now on.</summary>
    public void ResetMaxInFlight()
    {
        lock (_lock)
        {
            _maxInFlight = _inFlight;
        }
    }

    /// <summary>Lets every request held at /hold answer, now and from now on.</summary>
    public void Open() => _opened.TrySetResult();

    /// <summary>Completes once <paramref name="count"/> requests are in flight at once.</summary>
    public Task WhenInFlight(int count)
    {
        lock (_lock)
        {
            if (_inFlight >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, signal));
            return signal.Task.WaitAsync(RedisServer.Patience);
        }
    }

    /// <summary>Completes once at most <paramref name="count"/> requests are in flight.</summary>
    public Task WhenInFlightAtMost(int count)
    {
        lock (_lock)
        {
            if (_inFlight <= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _dropWaiters.Add((count, signal));
            return signal.Task.WaitAsync(RedisServer.Patience);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _opened.TrySetResult();
        await _app.DisposeAsync();
    }

    private void Enter(HttpContext context, string path)
    {
        lock (_lock)
        {
            Changed();
            _inFlight++;
            _maxInFlight = Math.Max(_maxInFlight, _inFlight);
            _arrivals.Add((_clock.Elapsed, context.Request.Headers["X-Worker"].ToString(), path));
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_inFlight >= _waiters[i].Count)
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private void Leave()
    {
        lock (_lock)
        {
            Changed();
            _inFlight--;
            for (var i = _dropWaiters.Count - 1; i >= 0; i--)
            {
                if (_inFlight <= _dropWaiters[i].Count)
                {
                    _dropWaiters[i].Signal.TrySetResult();
                    _dropWaiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>The count changes now: the time since the last change was spent at the old count.</summary>
    private void Changed()
    {
        var now = _clock.Elapsed;
        _timeAt[_inFlight] = _timeAt.GetValueOrDefault(_inFlight) + (now - _changedAt);
        _changedAt = now;
    }
}
