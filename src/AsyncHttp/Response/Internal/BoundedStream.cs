namespace AsyncHttp.Internal;

/// <summary>
/// A body stream that counts the bytes read through it and fails once they pass a limit, for readers that buffer what
/// they read (the JSON serializer holds a whole token in memory): the limit bounds their memory too. It never asks the
/// body for more than one byte past the limit, and leaves the body to its owner to dispose.
/// </summary>
internal sealed class BoundedStream(Stream body, long limit) : ReadOnlyStream
{
    private long _read;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_read > limit)
        {
            throw BodyLimits.TooLarge(limit);
        }

        // One byte past the limit is enough to know the body is too large.
        var allowed = limit - _read + 1;
        if (buffer.Length > allowed)
        {
            buffer = buffer[..(int)allowed];
        }

        var pending = body.ReadAsync(buffer, cancellationToken);
        return pending.IsCompletedSuccessfully ? new ValueTask<int>(Count(pending.Result)) : AwaitAsync(pending);
    }

    private async ValueTask<int> AwaitAsync(ValueTask<int> pending) => Count(await pending.ConfigureAwait(false));

    private int Count(int read)
    {
        _read += read;
        if (_read > limit)
        {
            throw BodyLimits.TooLarge(limit);
        }

        return read;
    }
}
