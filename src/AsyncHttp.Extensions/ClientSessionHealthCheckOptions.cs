using AsyncHttp.Extensions.Internal;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AsyncHttp;

/// <summary>
/// When the health check of a client session (<c>AddClientSessionHealthChecks</c>) reports it
/// <see cref="HealthStatus.Degraded"/>: named options, one per session name, so that a crawler that queues by design
/// and a session that must never wait can have their own thresholds.
/// </summary>
/// <remarks>
/// <para>
/// A session is <see cref="HealthStatus.Healthy"/> while its queue is below both thresholds;
/// <see cref="HealthStatus.Degraded"/> when its queue holds <see cref="DegradedQueueRatio"/> of
/// <see cref="ClientSessionOptions.QueueLimit"/> or more, or when its oldest queued request has waited
/// <see cref="DegradedQueueWait"/> or longer; <see cref="FailureStatus"/> (unhealthy by default) once it is closed.
/// With <see cref="ClientSessionOptions.QueueLimit"/> 0 (an unbounded queue) there is no share to take, so only
/// <see cref="DegradedQueueWait"/> applies: it is the threshold that sees an unbounded queue grow.
/// </para>
/// <para>
/// The options are read when the host starts (a bad value stops it, naming the session and the setting); a later
/// configuration reload does not change them.
/// </para>
/// </remarks>
public sealed class ClientSessionHealthCheckOptions
{
    /// <summary>
    /// The share of <see cref="ClientSessionOptions.QueueLimit"/> at or above which the session is degraded: with
    /// <c>QueueLimit</c> 1000 and 0.8, from 800 waiting requests on. Above 0, at most 1 (a full queue). Not applied
    /// when <c>QueueLimit</c> is 0 (unbounded).
    /// </summary>
    /// <value>0.8.</value>
    public double DegradedQueueRatio { get; set; } = ClientSessionHealthCheckDefaults.DegradedQueueRatio;

    /// <summary>
    /// How long the oldest queued request may have waited before the session is degraded (see
    /// <see cref="ConnectorStats.OldestWait"/>); <see langword="null"/> never degrades a session for its waits. Above 0.
    /// </summary>
    /// <value>30 seconds.</value>
    public TimeSpan? DegradedQueueWait { get; set; } = ClientSessionHealthCheckDefaults.DegradedQueueWait;

    /// <summary>
    /// The status reported when the session is closed (it admits no request), and when the check itself fails.
    /// </summary>
    /// <value><see cref="HealthStatus.Unhealthy"/>.</value>
    public HealthStatus FailureStatus { get; set; } = HealthStatus.Unhealthy;

    /// <summary>Tags of the session's health check, to select it with <c>MapHealthChecks(..., new HealthCheckOptions { Predicate = ... })</c>.</summary>
    /// <value>Empty.</value>
    public IList<string> Tags { get; set; } = [];
}
