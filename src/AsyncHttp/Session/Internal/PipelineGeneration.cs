namespace AsyncHttp.Internal;

/// <summary>
/// One built pipeline (middlewares, admission, transport) and the count of requests using it. A reload that needs a
/// new transport retires the old generation, which is disposed once its last request is released.
/// </summary>
/// <param name="invoker">The whole chain: middlewares, admission, transport.</param>
/// <param name="admission">The admission stage of the chain.</param>
/// <param name="transport">The transport at the bottom of the chain, which the chain disposes.</param>
/// <param name="admitsFirst">True when no middleware runs before admission.</param>
internal sealed class PipelineGeneration(HttpMessageInvoker invoker, AdmissionHandler admission, HttpMessageHandler transport, bool admitsFirst)
{
    private int _active;
    private int _retired;
    private int _disposed;

    public HttpMessageInvoker Invoker => invoker;

    public AdmissionHandler Admission => admission;

    /// <summary>The transport alone, for a request the session admitted itself.</summary>
    public HttpMessageInvoker Transport { get; } = new(transport, disposeHandler: false);

    /// <summary>
    /// True when no middleware runs before admission: the session can then queue a request before building it.
    /// </summary>
    public bool AdmitsFirst => admitsFirst;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Enter() => Interlocked.Increment(ref _active);

    public void Exit()
    {
        if (Interlocked.Decrement(ref _active) == 0 && Volatile.Read(ref _retired) != 0)
        {
            Dispose();
        }
    }

    public void Retire()
    {
        Volatile.Write(ref _retired, 1);
        if (Volatile.Read(ref _active) == 0)
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            invoker.Dispose();
        }
    }
}
