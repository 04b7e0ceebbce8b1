namespace AsyncHttp.Internal;

/// <summary>
/// The body stream: bounds each read with <see cref="ClientTimeout.SockRead"/>, reads under the request's
/// cancellation (so <see cref="ClientTimeout.Total"/> covers the body), and gives the slot back at the end of the
/// body, on a failed read, or on dispose.
/// </summary>
internal sealed class ReleasingStream(Stream inner, SlotLease lease) : ReadOnlyStream
{
    private readonly RequestContext? _context = lease.Context;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (lease.IsReleased)
        {
            // After the end of the body there is nothing more; after a dispose the inner stream says so.
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        if (_context is not { } context)
        {
            return await ReadReleasingAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        // The caller's read token cancels the whole request: a half-read body cannot be used again.
        var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((RequestContext)s!).Cancel(), context)
            : default;
        context.BeginRead();
        try
        {
            return await ReadReleasingAsync(buffer, context.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw context.Translate(ex, inBody: true, cancellationToken);
        }
        finally
        {
            context.EndRead();
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask<int> ReadReleasingAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int read;
        try
        {
            read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // A failed read leaves the connection unusable: dispose it so the transport does not pool it.
            inner.Dispose();
            Finish();
            throw;
        }

        if (read == 0 && !buffer.IsEmpty)
        {
            Finish();
        }

        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            Finish();
        }

        base.Dispose(disposing);
    }

    private void Finish() => lease.Release();
}
