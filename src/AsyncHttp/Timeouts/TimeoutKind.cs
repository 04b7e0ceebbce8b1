namespace AsyncHttp;

/// <summary>Which of the <see cref="ClientTimeout"/> fields fired.</summary>
public enum TimeoutKind
{
    /// <summary><see cref="ClientTimeout.Total"/>.</summary>
    Total,

    /// <summary><see cref="ClientTimeout.Connect"/>.</summary>
    Connect,

    /// <summary><see cref="ClientTimeout.SockConnect"/>.</summary>
    SockConnect,

    /// <summary><see cref="ClientTimeout.SockRead"/>.</summary>
    SockRead,
}
