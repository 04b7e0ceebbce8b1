namespace AsyncHttp.Internal;

/// <summary>
/// Admission as the innermost handler of a session with middlewares: every hop a middleware sends (a retry, a hedge,
/// a redirect hop) is admitted on its own by <see cref="Admission"/>, and its response's content gives the slot back.
/// </summary>
internal sealed class AdmissionHandler(Admission admission) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var lease = await admission.AcquireAsync(request, cancellationToken).ConfigureAwait(false);
        return await admission.SendAsync(lease, request, RequestContext.Of(request), wrap: true, cancellationToken).ConfigureAwait(false);
    }
}
