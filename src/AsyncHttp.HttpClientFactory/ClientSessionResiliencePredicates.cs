using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AsyncHttp;

/// <summary>
/// Predicates for resilience pipelines in front of a session: the standard ones of Microsoft.Extensions.Http.Resilience
/// treat every <see cref="HttpRequestException"/> as transient, and so would send again the requests a session refused
/// itself (its queue full, or the session closed). <c>UseClientSession</c> applies these to a client's standard
/// resilience and hedging handlers; use them in pipelines built by hand.
/// </summary>
/// <example>
/// <code>
/// builder.AddResilienceHandler("custom", pipeline => pipeline.AddRetry(new HttpRetryStrategyOptions
/// {
///     ShouldHandle = args => ValueTask.FromResult(ClientSessionResiliencePredicates.IsTransient(args.Outcome)),
/// }));
/// </code>
/// </example>
public static class ClientSessionResiliencePredicates
{
    /// <summary>
    /// True for a session's refusal of a request, which sending it again would not cure and would only add to the load
    /// that caused it: <see cref="QueueFullException"/> (the session's queue is at its
    /// <see cref="ClientSessionOptions.QueueLimit"/>), <see cref="RateLimitRejectedException"/> (a limiter of admission
    /// refused a permit) and <see cref="SessionClosedException"/> (the session is closing).
    /// </summary>
    /// <param name="exception">The exception of an attempt, if it failed.</param>
    /// <returns><see langword="true"/> for the session's own rejections.</returns>
    public static bool IsSessionRejection(Exception? exception) => exception is QueueFullException or RateLimitRejectedException or SessionClosedException;

    /// <summary>
    /// <see cref="HttpClientResiliencePredicates.IsTransient(Outcome{HttpResponseMessage})"/> without the session's own
    /// rejections (<see cref="IsSessionRejection"/>).
    /// </summary>
    /// <param name="outcome">The outcome of an attempt.</param>
    /// <returns><see langword="true"/> when the attempt failed in a way worth trying again.</returns>
    public static bool IsTransient(Outcome<HttpResponseMessage> outcome)
        => !IsSessionRejection(outcome.Exception) && HttpClientResiliencePredicates.IsTransient(outcome);
}
