using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Retry;

namespace AsyncHttp.Internal;

/// <summary>
/// Makes the standard resilience and hedging pipelines of a client leave the session's own rejections alone: each
/// <c>ShouldHandle</c> they have (the defaults, or the user's) is wrapped so that a rejection is neither retried, nor
/// hedged, nor counted by a circuit breaker as a failure of the upstream.
/// </summary>
internal static class SessionRejectionFilter
{
    /// <summary>The options name <c>AddStandardResilienceHandler()</c> gives a client's standard pipeline.</summary>
    public static string StandardOptionsName(string clientName) => clientName + "-standard";

    /// <summary>The options name <c>AddStandardHedgingHandler()</c> gives a client's standard hedging pipeline.</summary>
    public static string HedgingOptionsName(string clientName) => clientName;

    public static void Apply(HttpStandardResilienceOptions options)
    {
        options.Retry.ShouldHandle = Exclude(options.Retry.ShouldHandle, static (in RetryPredicateArguments<HttpResponseMessage> a) => a.Outcome);
        options.CircuitBreaker.ShouldHandle = Exclude(options.CircuitBreaker.ShouldHandle, static (in CircuitBreakerPredicateArguments<HttpResponseMessage> a) => a.Outcome);
    }

    public static void Apply(HttpStandardHedgingResilienceOptions options)
    {
        options.Hedging.ShouldHandle = Exclude(options.Hedging.ShouldHandle, static (in HedgingPredicateArguments<HttpResponseMessage> a) => a.Outcome);
        options.Endpoint.CircuitBreaker.ShouldHandle = Exclude(options.Endpoint.CircuitBreaker.ShouldHandle, static (in CircuitBreakerPredicateArguments<HttpResponseMessage> a) => a.Outcome);
    }

    private delegate Outcome<HttpResponseMessage> OutcomeOf<TArgs>(in TArgs args);

    private static Func<TArgs, ValueTask<bool>> Exclude<TArgs>(Func<TArgs, ValueTask<bool>> shouldHandle, OutcomeOf<TArgs> outcome)
        => args => ClientSessionResiliencePredicates.IsSessionRejection(outcome(in args).Exception) ? ValueTask.FromResult(false) : shouldHandle(args);
}
