namespace AsyncHttp.Testing.Internal;

/// <summary>
/// A response body as a server sends it: in chunks, with waits between them on the session's clock, and broken off
/// where the response's fault says. Reads observe the caller's cancellation, which the session's timeouts trigger.
/// </summary>
internal sealed class TestBodyStream(TestResponse response, TimeProvider time) : Stream
{
    private readonly ReadOnlyMemory<byte> _body = response.Body;
    private readonly long _faultAt = response.Fault == TestFault.None ? -1 : Math.Min(response.FaultAfterBodyBytes ?? -1, response.Body.Length);
    private readonly CancellationTokenSource _disposal = new();
    private int _position;
    private bool _disposed;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_position > 0 && _position < _body.Length && response.ChunkSize > 0 && _position % response.ChunkSize == 0)
        {
            // Disposing the stream (the session releasing the response) ends a wait the reader's token would not.
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposal.Token);
            try
            {
                await TestUpstreamHandler.Delay(response.ChunkDelay, time, wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(TestBodyStream));
            }
        }

        if (_position == _faultAt)
        {
            throw Faults.InBody(response.Fault, response.DeclaresLength ? _body.Length - _position : null);
        }

        var end = _body.Length;
        if (response.ChunkSize > 0)
        {
            end = Math.Min(end, (_position / response.ChunkSize + 1) * response.ChunkSize);
        }

        if (_faultAt >= 0)
        {
            end = (int)Math.Min(end, _faultAt);
        }

        var count = Math.Min(buffer.Length, end - _position);
        _body.Slice(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _disposal.Cancel();
            _disposal.Dispose();
        }

        base.Dispose(disposing);
    }
}
