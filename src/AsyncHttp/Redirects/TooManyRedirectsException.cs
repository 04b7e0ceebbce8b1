namespace AsyncHttp;

/// <summary>A request was redirected more than <see cref="ClientSessionOptions.MaxRedirects"/> times.</summary>
public sealed class TooManyRedirectsException : ClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="maxRedirects">The limit that was reached.</param>
    /// <param name="hops">The redirects followed, oldest first, and the one refused last.</param>
    public TooManyRedirectsException(int maxRedirects, IReadOnlyList<RedirectHop> hops)
        : base($"More than {maxRedirects} redirects; the last one pointed to {UrlRedaction.Redact(hops.Count > 0 ? hops[^1].Location : null)}.")
    {
        ArgumentNullException.ThrowIfNull(hops);
        MaxRedirects = maxRedirects;
        Hops = hops;
    }

    /// <summary>The limit that was reached.</summary>
    public int MaxRedirects { get; }

    /// <summary>The redirects, oldest first.</summary>
    public IReadOnlyList<RedirectHop> Hops { get; }
}
