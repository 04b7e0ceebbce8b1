namespace AsyncHttp.Internal;

/// <summary>
/// One transport a connector built (a <see cref="SocketsHttpHandler"/> behind the header guard, or a custom one) and the
/// slots sending through it. A reconfiguration that changes a connection setting retires it; it is disposed, closing
/// its connections, once the last slot granted on it is released.
/// </summary>
internal sealed class TransportGeneration
{
    private readonly HttpMessageHandler _handler;
    private int _disposed;

    private TransportGeneration(TransportSettings settings, ProxySelection? proxies, HttpMessageHandler handler)
    {
        Settings = settings;
        Proxies = proxies;
        _handler = handler;
        Invoker = new HttpMessageInvoker(handler, disposeHandler: false);
    }

    public TransportSettings Settings { get; }

    /// <summary>The proxy each request goes through, if any: read once for the generation (the environment too).</summary>
    public ProxySelection? Proxies { get; }

    /// <summary>What a hop holding a slot of this generation is sent through.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Slots granted on this generation and not yet released. Guarded by the connector's lock.</summary>
    public int Active;

    /// <summary>A newer generation took over: this one goes once <see cref="Active"/> is 0. Guarded by the connector's lock.</summary>
    public bool Retired;

    /// <summary>Builds the transport of <paramref name="settings"/> for <paramref name="connector"/>.</summary>
    public static TransportGeneration Create(TransportSettings settings, Connector connector, TimeProvider time, SessionTelemetry telemetry)
    {
        var proxies = settings.TransportFactory is null ? ProxySelection.From(settings) : null;
        return new TransportGeneration(settings, proxies, Transport.Create(settings, proxies, connector, time, telemetry));
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Invoker.Dispose();
            _handler.Dispose();
        }
    }
}
