namespace AsyncHttp.Internal;

/// <summary>
/// The body stream: bounds each read with <see cref="ClientTimeout.SockRead"/>, reads under the request's
/// cancellation (so <see cref="ClientTimeout.Total"/> covers the body), and gives the slot back at the end of the
/// body, on a failed read, or on dispose. A body with a declared length ends with its last byte: the transport
/// has given the connection back by then, and no read of nothing is needed to find the end.
/// </summary>
/// <param name="inner">The transport's body stream.</param>
/// <param name="lease">The slot the body holds.</param>
/// <param name="context">The request, whose timeouts and cancellation the reads obey; null for a middleware's own message.</param>
/// <param name="declaredLength">The length the server declared, if it did.</param>
/// <param name="owner">
/// The object that handed this stream out and guards the slot against a leak (a <see cref="ClientResponse"/> or a
/// <see cref="ReleasingContent"/>): kept reachable while the stream is, so the collector never reclaims a body that
/// is still being read.
/// </param>
internal sealed class ReleasingStream(Stream inner, Connector.SlotLease lease, RequestContext? context, long? declaredLength, IBodyGuard? owner) : ReadOnlyStream
{
    // Bytes of the declared length still to come; -1 when the length is not known.
    private long _remaining = declaredLength ?? -1;
    private bool _ended;

    /// <summary>The guard this stream keeps reachable; see the constructor.</summary>
    public IBodyGuard? Owner { get; private set; } = owner;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (lease.IsReleased)
        {
            return ReadAfterRelease(cancellationToken);
        }

        if (context is null)
        {
            return ReadReleasingAsync(buffer, cancellationToken);
        }

        if (context.Timeout.SockRead is not null || cancellationToken.IsCancellationRequested)
        {
            return ReadWithDeadlineAsync(context, buffer, cancellationToken);
        }

        if (cancellationToken.CanBeCanceled)
        {
            // Only the read's own token (HttpClient passes one to every read): a read that completes at once, as most
            // do, needs neither a registration on it nor a state machine.
            ValueTask<int> started;
            try
            {
                started = inner.ReadAsync(buffer, context.Token);
            }
            catch (Exception ex)
            {
                throw Failed(ex, context, cancellationToken);
            }

            return started.IsCompletedSuccessfully
                ? new ValueTask<int>(Count(started.Result, buffer))
                : AwaitReadWithTokenAsync(started, context, buffer, cancellationToken);
        }

        // The common read, with no token of the caller's to link and no deadline of its own (the request's token
        // still carries Total and aborts): no state machine unless it has to wait.
        ValueTask<int> pending;
        try
        {
            pending = inner.ReadAsync(buffer, context.Token);
        }
        catch (Exception ex)
        {
            throw Failed(ex, context, cancellationToken);
        }

        return pending.IsCompletedSuccessfully
            ? new ValueTask<int>(Count(pending.Result, buffer))
            : AwaitReadAsync(pending, context, buffer);
    }

    private async ValueTask<int> AwaitReadAsync(ValueTask<int> pending, RequestContext context, Memory<byte> buffer)
    {
        try
        {
            return Count(await pending.ConfigureAwait(false), buffer);
        }
        catch (Exception ex)
        {
            throw Failed(ex, context, default);
        }
    }

    /// <summary>
    /// A read that is waiting: from now the read's token cancels the request (at once when it was cancelled after the
    /// read began), which aborts the read.
    /// </summary>
    private async ValueTask<int> AwaitReadWithTokenAsync(ValueTask<int> pending, RequestContext context, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var registration = cancellationToken.UnsafeRegister(static s => ((RequestContext)s!).Cancel(), context);
        try
        {
            return Count(await pending.ConfigureAwait(false), buffer);
        }
        catch (Exception ex)
        {
            throw Failed(ex, context, cancellationToken);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask<int> ReadWithDeadlineAsync(RequestContext context, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        // The caller's read token cancels the whole request: a half-read body cannot be used again.
        var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((RequestContext)s!).Cancel(), context)
            : default;
        context.BeginRead();
        try
        {
            return Count(await inner.ReadAsync(buffer, context.Token).ConfigureAwait(false), buffer);
        }
        catch (Exception ex)
        {
            throw Failed(ex, context, cancellationToken);
        }
        finally
        {
            context.EndRead();
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A read without a request context (a middleware's own message): it only releases.</summary>
    private async ValueTask<int> ReadReleasingAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer);
        }
        catch
        {
            Abandon();
            throw;
        }
    }

    /// <summary>
    /// A read once the slot went back: nothing more after the end of the body (a decoder may ask after its own end);
    /// what interrupted the request (a timeout, a cancellation, the session's close), or a dispose, otherwise. Never
    /// an empty read that would pass a cut body off as whole.
    /// </summary>
    private ValueTask<int> ReadAfterRelease(CancellationToken cancellationToken)
    {
        if (_ended)
        {
            return new ValueTask<int>(0);
        }

        return ValueTask.FromException<int>(context is { IsInterrupted: true }
            ? context.Translate(new OperationCanceledException(context.Token), inBody: true, cancellationToken)
            : new ObjectDisposedException(nameof(ClientResponse), "The response was released before its body was read to the end."));
    }

    /// <summary>Counts a read, giving the slot back at the end of the body.</summary>
    private int Count(int read, Memory<byte> buffer)
    {
        if ((_remaining > 0 && (_remaining -= read) == 0) || (read == 0 && !buffer.IsEmpty))
        {
            _ended = true;
            Release();
        }

        return read;
    }

    private Exception Failed(Exception exception, RequestContext context, CancellationToken cancellationToken)
    {
        Abandon();
        return context.Translate(exception, inBody: true, cancellationToken);
    }

    /// <summary>
    /// A failed read leaves the connection unusable: the slot goes back at once, and the release disposes the transport's
    /// content, which disposes the stream it handed out (<c>inner</c>), so the transport does not pool it.
    /// </summary>
    private void Abandon() => Release();

    /// <summary>Gives the slot back, and tells the guard, which then has nothing left to reclaim.</summary>
    private void Release()
    {
        lease.Release();
        Owner?.OnSlotReleased();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Disposes inner too: see Abandon.
            Release();
            Owner = null;
        }

        base.Dispose(disposing);
    }
}
