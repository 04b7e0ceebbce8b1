namespace AsyncHttp.Internal;

/// <summary>
/// The transport a connector was given in place of its socket layer (<see cref="ConnectorOptions.TransportFactory"/>, or
/// <see cref="ClientSessionOptions.TransportFactory"/> of the session that owns it).
/// </summary>
internal static class CustomTransport
{
    /// <summary>The handler of the options' transport factory; null when there is none.</summary>
    public static HttpMessageHandler? Create(TransportSettings options, string connectorName, TimeProvider time)
    {
        if (options.TransportFactory is not { } factory)
        {
            return null;
        }

        return factory(new ClientTransportContext(connectorName, time))
            ?? throw new InvalidOperationException($"The TransportFactory of connector '{connectorName}' returned null.");
    }
}
