namespace AsyncHttp.Internal;

/// <summary>The transport a session was given in place of its socket layer (<see cref="ClientSessionOptions.TransportFactory"/>).</summary>
internal static class CustomTransport
{
    /// <summary>The handler of the options' transport factory; null when there is none.</summary>
    public static HttpMessageHandler? Create(TransportSettings options, string sessionName, TimeProvider time)
    {
        if (options.TransportFactory is not { } factory)
        {
            return null;
        }

        return factory(new ClientTransportContext(sessionName, time))
            ?? throw new InvalidOperationException($"The TransportFactory of session '{sessionName}' returned null.");
    }
}
