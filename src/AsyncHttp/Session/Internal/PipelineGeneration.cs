namespace AsyncHttp.Internal;

/// <summary>
/// One built pipeline (middlewares, admission, transport) and the count of requests using it. A reload that needs a
/// new transport retires the old generation, which is disposed once its last request is released.
/// </summary>
internal sealed class PipelineGeneration(HttpMessageInvoker invoker)
{
    private int _active;
    private int _retired;
    private int _disposed;

    public HttpMessageInvoker Invoker => invoker;

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
