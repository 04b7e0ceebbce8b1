using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// The Redis connections of the limits: the application's <see cref="IConnectionMultiplexer"/> when DI has one (the
/// application owns it), otherwise one per connection string, made on first use and disposed with the host.
/// </summary>
internal sealed class RedisConnections(IServiceProvider services) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<ConnectionMultiplexer>> _own = new(StringComparer.Ordinal);

    /// <summary>True when the application registered its own connection.</summary>
    public bool HasRegistered => services.GetService<IConnectionMultiplexer>() is not null;

    public IConnectionMultiplexer Get(string? configuration)
    {
        if (services.GetService<IConnectionMultiplexer>() is { } registered)
        {
            return registered;
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        return _own.GetOrAdd(configuration, static c => new Lazy<ConnectionMultiplexer>(() => Connect(c))).Value;
    }

    public void Dispose()
    {
        foreach (var connection in _own.Values)
        {
            if (connection.IsValueCreated)
            {
                connection.Value.Dispose();
            }
        }
    }

    /// <summary>
    /// Connects without failing when Redis is away at start (the limits apply their fail-open or fail-closed rule
    /// meanwhile), and reconnects every second after an outage.
    /// </summary>
    private static ConnectionMultiplexer Connect(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        return ConnectionMultiplexer.Connect(options);
    }
}
