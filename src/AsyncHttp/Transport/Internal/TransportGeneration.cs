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

    public TransportGeneration(TransportSettings settings, HttpMessageHandler handler)
    {
        Settings = settings;
        _handler = handler;
        Invoker = new HttpMessageInvoker(handler, disposeHandler: false);
    }

    public TransportSettings Settings { get; }

    /// <summary>What a hop holding a slot of this generation is sent through.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Slots granted on this generation and not yet released. Guarded by the connector's lock.</summary>
    public int Active;

    /// <summary>A newer generation took over: this one goes once <see cref="Active"/> is 0. Guarded by the connector's lock.</summary>
    public bool Retired;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Invoker.Dispose();
            _handler.Dispose();
        }
    }
}
