namespace AsyncHttp.Internal;

/// <summary>
/// A request message the session creates itself, carrying its <see cref="RequestContext"/> in a field: the stages
/// below find it without <see cref="HttpRequestMessage.Options"/>, whose dictionary costs every request about 200
/// bytes. Messages the caller brings, and redirect hops, carry the context in their options instead.
/// </summary>
internal sealed class ContextRequestMessage(HttpMethod method, Uri url) : HttpRequestMessage(method, url)
{
    public RequestContext? Context { get; set; }
}
