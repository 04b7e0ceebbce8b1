namespace AsyncHttp.Internal;

/// <summary>
/// Admission as the innermost handler of a session with middlewares: every hop a middleware sends (a retry, a hedge,
/// a redirect hop) is admitted on its own by <see cref="Admission"/>, with a fresh <see cref="ClientTimeout.Connect"/>,
/// and its response's content gives the slot back.
/// </summary>
internal sealed class AdmissionHandler(Admission admission) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Every hop a middleware sends starts its Connect afresh; the request's timer bounds its wait in the queue.
        var context = RequestContext.Of(request);
        context?.HopStarted();
        var lease = await admission.AcquireAsync(request, cancellationToken).ConfigureAwait(false);
        return await admission.SendAsync(lease, request, context, wrap: true, cancellationToken).ConfigureAwait(false);
    }
}
