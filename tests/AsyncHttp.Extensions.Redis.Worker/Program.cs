using System.Globalization;
using AsyncHttp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

// One process of a fleet. Everything comes from the command line: the session "fleet" (its BaseAddress, its
// RateLimits section), and Fleet:Mode (concurrency or rate), Fleet:Permits, Fleet:PermitsPerSecond, Fleet:Loops (requests
// at once), Fleet:Requests (in all), Fleet:Path, Fleet:Worker (sent as X-Worker), Fleet:WaitForGo (wait for a line on
// standard input before sending).
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);

// The rate limit's grants, on Redis's clock (its trace event 3007), printed at the end for the test's exact bound check.
var grants = new GrantLog();
builder.Logging.AddProvider(grants).AddFilter<GrantLog>("AsyncHttp.Redis", LogLevel.Trace).AddFilter<ConsoleLoggerProvider>("AsyncHttp.Redis", LogLevel.Warning);
var fleet = builder.Configuration.GetSection("Fleet");
var worker = fleet["Worker"] ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
var session = builder.Services.AddClientSession("fleet", o => o.Headers["X-Worker"] = worker).BindConfiguration("AsyncHttp:Sessions:fleet");
if (fleet["Mode"] == "rate")
{
    session.AddRedisRateLimit(fleet.GetValue<double>("PermitsPerSecond"));
}
else
{
    session.AddRedisConcurrencyLimit(fleet.GetValue<int>("Permits"));
}

using var host = builder.Build();
await host.StartAsync();
var client = host.Services.GetRequiredService<ISessionRegistry>().GetSession("fleet");
var path = fleet["Path"] ?? "work?ms=50";
var remaining = fleet.GetValue<int>("Requests");
int sent = 0, failed = 0, limited = 0;
Console.WriteLine($"ready {worker}");
if (fleet.GetValue<bool>("WaitForGo"))
{
    // The fleet starts together: the test says go on standard input once every process is ready.
    await Console.In.ReadLineAsync();
}

async Task LoopAsync()
{
    while (Interlocked.Decrement(ref remaining) >= 0)
    {
        try
        {
            await using var response = await client.GetAsync(path);
            await response.ReadAsStringAsync();
            Interlocked.Increment(ref response.Status == 429 ? ref limited : ref sent);
        }
        catch (ClientException ex)
        {
            Interlocked.Increment(ref failed);
            Console.WriteLine($"failed {ex.GetType().Name}: {ex.Message}");
        }
    }
}

await Task.WhenAll(Enumerable.Range(0, fleet.GetValue("Loops", 1)).Select(_ => Task.Run(LoopAsync)));
var stats = client.Connector.Stats;
Console.WriteLine($"grants {worker} {string.Join(',', grants.Times)}");
Console.WriteLine($"done {worker} sent={sent} limited={limited} failed={failed} inUse={stats.InUse} waiting={stats.Waiting}");
await host.StopAsync();

/// <summary>Collects the Redis time of each token the rate limit granted (event 3007's GrantedAtMs).</summary>
internal sealed class GrantLog : ILoggerProvider, ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _times = new();

    public IEnumerable<string> Times => _times;

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel == LogLevel.Trace;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == 3007 && state is IReadOnlyList<KeyValuePair<string, object?>> values
            && values.FirstOrDefault(v => v.Key == "GrantedAtMs").Value is double at)
        {
            _times.Enqueue(at.ToString("F3", CultureInfo.InvariantCulture));
        }
    }

    public void Dispose()
    {
    }
}
