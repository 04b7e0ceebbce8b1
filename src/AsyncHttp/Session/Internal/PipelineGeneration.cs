namespace AsyncHttp.Internal;

/// <summary>
/// One built pipeline of a session (middlewares and admission; the transport below is the connector's) and the count
/// of requests using it. A reload that changes how bodies are decoded retires the old generation, which is disposed
/// once its last request is released.
/// </summary>
internal sealed class PipelineGeneration
{
    private int _active;
    private int _retired;
    private int _disposed;

    /// <param name="admission">The one admission path, which sends through the transport of each slot.</param>
    /// <param name="middlewares">The chain of middlewares above admission, outermost first; null when there are none.</param>
    public PipelineGeneration(Admission admission, HttpMessageInvoker? middlewares)
    {
        Admission = admission;
        Middlewares = middlewares;
    }

    public Admission Admission { get; }

    /// <summary>
    /// The middlewares, ending in admission; null when the session has none: the session then admits each hop itself,
    /// and can queue a request before building it.
    /// </summary>
    public HttpMessageInvoker? Middlewares { get; }

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
            Middlewares?.Dispose();
        }
    }
}
