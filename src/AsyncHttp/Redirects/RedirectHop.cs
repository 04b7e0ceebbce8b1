using System.Net;

namespace AsyncHttp;

/// <summary>One redirect response on the way to the final one.</summary>
/// <param name="Method">The method of the request that got the redirect.</param>
/// <param name="Url">The URL that answered with the redirect.</param>
/// <param name="StatusCode">The redirect status (301, 302, 303, 307 or 308).</param>
/// <param name="Location">Where it redirected to, resolved against <paramref name="Url"/>.</param>
public sealed record RedirectHop(HttpMethod Method, Uri Url, HttpStatusCode StatusCode, Uri Location);
