namespace AsyncHttp.Internal;

/// <summary>
/// The Cookie header of each hop of one request: the jar's cookies for the hop's URL, plus, while the request stays
/// on its first origin, the caller's own Cookie header and per-request cookies. A struct of one reference: it
/// lives in the session's state machine, which a queued request holds, so the jar and the first origin, which the
/// session and the request's context know, are given to each call rather than kept here.
/// </summary>
internal readonly struct HopCookies
{
    private readonly string? _explicit;

    /// <param name="request">The first hop; its own Cookie header, if any, is taken off it.</param>
    /// <param name="perRequest">The request's cookies, already checked by <see cref="Validate"/>.</param>
    /// <param name="mayHaveCookieHeader">False when the request is known to have no headers at all.</param>
    public HopCookies(HttpRequestMessage request, IDictionary<string, string>? perRequest, bool mayHaveCookieHeader = true)
    {
        // Most requests bring no cookies of their own: no list for them.
        List<string>? parts = null;
        if (mayHaveCookieHeader && request.Headers.NonValidated.TryGetValues("Cookie", out var values))
        {
            parts = [.. values];
            request.Headers.Remove("Cookie");
        }

        if (perRequest is not null)
        {
            foreach (var (name, value) in perRequest)
            {
                (parts ??= []).Add($"{name}={value}");
            }
        }

        _explicit = parts is null || parts.Count == 0 ? null : string.Join("; ", parts);
    }

    /// <summary>Throws for a per-request cookie that cannot be sent.</summary>
    public static void Validate(IDictionary<string, string>? perRequest)
    {
        if (perRequest is null)
        {
            return;
        }

        foreach (var (name, value) in perRequest)
        {
            if (!HeaderValidation.IsValidName(name) || !HeaderValidation.IsValidValue(value) || value.AsSpan().IndexOfAny(';', ',') >= 0)
            {
                throw new ArgumentException($"Cookie '{name}' has an invalid name or value.", nameof(perRequest));
            }
        }
    }

    /// <param name="request">The hop.</param>
    /// <param name="jar">The session's jar, when cookies are on.</param>
    /// <param name="origin">The URL of the request's first hop.</param>
    /// <returns>True when it set the hop's Cookie header.</returns>
    public bool Apply(HttpRequestMessage request, CookieJar? jar, Uri origin)
    {
        if (jar is null && _explicit is null)
        {
            return false;
        }

        var fromJar = jar?.GetCookieHeader(request.RequestUri!);
        var own = RedirectPolicy.SameOrigin(origin, request.RequestUri!) ? _explicit : null;
        var header = string.IsNullOrEmpty(fromJar) ? own : own is null ? fromJar : own + "; " + fromJar;

        // No hop has a Cookie header of its own here: the constructor took it off the first, and a redirect drops it.
        if (string.IsNullOrEmpty(header))
        {
            return false;
        }

        request.Headers.TryAddWithoutValidation("Cookie", header);
        return true;
    }

    /// <summary>
    /// Gives the first hop back its caller's own Cookie header, in place of the one <see cref="Apply"/> set: a caller
    /// that sends the message again (a retry) then sends its own cookies, not a copy of the jar's from the last time.
    /// For a request without per-request cookies (a handler's), whose explicit cookies are the caller's header.
    /// </summary>
    public void Restore(HttpRequestMessage request)
    {
        request.Headers.Remove("Cookie");
        if (_explicit is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", _explicit);
        }
    }
}
