using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// The health of one registered session, from a snapshot of its connector: closed, degraded by its queue (share of
/// the queue limit, age of the oldest waiter), or healthy. The numbers go in the result's data. A session not created
/// yet is healthy and is not created by the check.
/// </summary>
internal sealed class ClientSessionHealthCheck(string name, SessionRegistry registry, IOptionsMonitor<ClientSessionOptions> sessionOptions, IOptionsMonitor<ClientSessionHealthCheckOptions> thresholds) : IHealthCheck
{
    public const string InUse = "inUse";
    public const string Limit = "limit";
    public const string Waiting = "waiting";
    public const string QueueLimit = "queueLimit";
    public const string OldestWait = "oldestWait";
    public const string OpenConnections = "openConnections";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Check(context.Registration.FailureStatus));
    }

    private HealthCheckResult Check(HealthStatus failureStatus)
    {
        if (!registry.TryGetCreated(name, out var session))
        {
            var options = sessionOptions.Get(name);
            var unused = Data(new ConnectorStats(options.Limit, options.LimitPerHost, options.QueueLimit, 0, 0, 0, []));
            return registry.IsClosed
                ? new HealthCheckResult(failureStatus, $"Session '{name}' is closed: the host has stopped.", data: unused)
                : HealthCheckResult.Healthy($"Session '{name}' has not been used yet.", unused);
        }

        // A session never moves to another connector: whether it names one tells whether it shares it.
        var stats = sessionOptions.Get(name).Connector is null ? session.Connector.Stats : ShareOf(session);
        var data = Data(stats);
        if (session.IsClosed)
        {
            return new HealthCheckResult(failureStatus, $"Session '{name}' is closed: it admits no request.", data: data);
        }

        var limits = thresholds.Get(name);
        string? degraded = null;
        if (stats.QueueLimit > 0 && stats.Waiting >= limits.DegradedQueueRatio * stats.QueueLimit)
        {
            degraded = string.Create(CultureInfo.InvariantCulture, $"{stats.Waiting} of the queue's {stats.QueueLimit} places are taken ({limits.DegradedQueueRatio * 100:0.##}% or more).");
        }

        if (limits.DegradedQueueWait is { } wait && stats.Waiting > 0 && stats.OldestWait >= wait)
        {
            degraded += (degraded is null ? "" : " ") + string.Create(CultureInfo.InvariantCulture, $"The oldest queued request has waited {stats.OldestWait:c} ({wait:c} or more).");
        }

        return degraded is not null
            ? HealthCheckResult.Degraded($"Session '{name}': {degraded}", data: data)
            : HealthCheckResult.Healthy($"Session '{name}': {stats.InUse} in use, {stats.Waiting} waiting.", data);
    }

    /// <summary>
    /// The numbers the health of a session on a shared connector is judged by: its own share (its slots, its waiters and
    /// their oldest wait, its own queue bound or else the connector's), so that a session that never waits is not
    /// degraded by another's deep queue.
    /// </summary>
    private static ConnectorStats ShareOf(ClientSession session)
    {
        var pool = session.Connector.Stats;
        var own = session.Stats;
        return new ConnectorStats(own.Limit, own.LimitPerHost, own.QueueLimit > 0 ? own.QueueLimit : pool.QueueLimit, own.InUse, own.Waiting, pool.OpenConnections, pool.Hosts)
        {
            Name = pool.Name,
            OldestWait = own.OldestWait,
        };
    }

    private static Dictionary<string, object> Data(ConnectorStats stats) => new(StringComparer.Ordinal)
    {
        [InUse] = stats.InUse,
        [Limit] = stats.Limit,
        [Waiting] = stats.Waiting,
        [QueueLimit] = stats.QueueLimit,
        [OldestWait] = stats.OldestWait,
        [OpenConnections] = stats.OpenConnections,
    };
}
