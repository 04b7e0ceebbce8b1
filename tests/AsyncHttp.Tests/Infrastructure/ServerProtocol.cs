namespace AsyncHttp.Tests.Infrastructure;

/// <summary>What a <see cref="TestServer"/> speaks.</summary>
public enum ServerProtocol
{
    /// <summary>HTTP/1.1 over cleartext.</summary>
    Http1,

    /// <summary>HTTP/2 over cleartext only, with prior knowledge (h2c).</summary>
    H2c,

    /// <summary>TLS with ALPN offering h2 and http/1.1.</summary>
    Tls,
}
