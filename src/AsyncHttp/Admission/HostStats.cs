namespace AsyncHttp;

/// <summary>The connector's numbers for one host.</summary>
/// <param name="Host">The host key: scheme, host and port, as <c>http://example.com:80</c>.</param>
/// <param name="InUse">Slots held by requests to this host.</param>
/// <param name="Waiting">Requests to this host waiting in the queue.</param>
/// <param name="OpenConnections">TCP connections open to this host.</param>
public sealed record HostStats(string Host, int InUse, int Waiting, int OpenConnections);
