using System.Net;

namespace AsyncHttp;

/// <summary>
/// The cookies of one session, on <see cref="CookieContainer"/>: stored from every response (redirect hops included)
/// and sent back by domain and path; <c>Secure</c> cookies only over https. Cookies from hosts given as IP addresses
/// are refused unless <see cref="ClientSessionOptions.UnsafeCookies"/> is set.
/// </summary>
public sealed class CookieJar
{
    private CookieContainer _container = new();

    internal CookieJar(bool unsafeCookies)
    {
        UnsafeCookies = unsafeCookies;
    }

    /// <summary>Whether cookies from IP-address hosts are accepted; a reload may change it.</summary>
    internal bool UnsafeCookies { get; set; }

    /// <summary>The number of cookies in the jar.</summary>
    public int Count => Volatile.Read(ref _container).Count;

    /// <summary>Every cookie in the jar.</summary>
    public CookieCollection GetAllCookies() => Volatile.Read(ref _container).GetAllCookies();

    /// <summary>The cookies that would be sent to <paramref name="url"/>.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    public CookieCollection GetCookies(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return Volatile.Read(ref _container).GetCookies(url);
    }

    /// <summary>Adds a cookie as if <paramref name="url"/> had set it.</summary>
    /// <param name="url">The URL the cookie belongs to.</param>
    /// <param name="cookie">The cookie.</param>
    public void Add(Uri url, Cookie cookie)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(cookie);
        Volatile.Read(ref _container).Add(url, cookie);
    }

    /// <summary>Removes every cookie.</summary>
    public void Clear() => Volatile.Write(ref _container, new CookieContainer());

    /// <summary>The Cookie header value for a request to <paramref name="url"/>; empty when none applies.</summary>
    internal string GetCookieHeader(Uri url) => Volatile.Read(ref _container).GetCookieHeader(url);

    /// <summary>Stores the Set-Cookie headers of a response; malformed ones are skipped, as browsers do.</summary>
    internal void Store(Uri url, HttpResponseMessage response)
    {
        if (!response.Headers.NonValidated.TryGetValues("Set-Cookie", out var values))
        {
            return;
        }

        if (!UnsafeCookies && url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6)
        {
            return;
        }

        var container = Volatile.Read(ref _container);
        foreach (var value in values)
        {
            try
            {
                container.SetCookies(url, value);
            }
            catch (CookieException)
            {
                // A cookie the container rejects (bad domain, bad syntax) is dropped, not fatal to the response.
            }
        }
    }
}
