namespace AsyncHttp;

/// <summary>Settings for one request; each one left unset takes the session's.</summary>
public sealed class RequestOptions
{
    /// <summary>Headers for this request; each replaces a session default header of the same name.</summary>
    public IDictionary<string, string>? Headers { get; set; }

    /// <summary>Timeouts for this request, replacing the session's <see cref="ClientSessionOptions.Timeout"/> as a whole.</summary>
    public ClientTimeout? Timeout { get; set; }

    /// <summary>Throw <see cref="ResponseStatusException"/> for status 400 or above; unset takes <see cref="ClientSessionOptions.RaiseForStatus"/>.</summary>
    public bool? RaiseForStatus { get; set; }
}
