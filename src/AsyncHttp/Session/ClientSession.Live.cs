using AsyncHttp.Internal;

namespace AsyncHttp;

// The requests of the session from admission to release: the list a close aborts, and the Total deadlines the
// session keeps for them behind one timer. Guarded by the session's gate.
public sealed partial class ClientSession
{
    internal void Untrack(RequestContext context)
    {
        lock (_gate)
        {
            if (context.Prev is null && _live != context)
            {
                return;
            }

            if (context.Prev is null)
            {
                _live = context.Next;
            }
            else
            {
                context.Prev.Next = context.Next;
            }

            if (context.Next is not null)
            {
                context.Next.Prev = context.Prev;
            }

            context.Next = context.Prev = null;
            DeadlineLanes.Remove(context);
        }

        context.Generation?.Exit();
    }

    private void Track(RequestContext context)
    {
        lock (_gate)
        {
            context.Next = _live;
            if (_live is not null)
            {
                _live.Prev = context;
            }

            _live = context;
            if (context.SharesTotal && Deadline.Total(context.Timeout, context.StartTimestamp, _time) is { } total)
            {
                _totals.Add(context, total);
            }
        }
    }

    /// <summary>The session's Total timer fired: the requests whose shared deadline has passed time out.</summary>
    private void ExpireTotals()
    {
        List<RequestContext>? expired = null;
        lock (_gate)
        {
            var now = _totals.Now;
            while (_totals.NextExpired(now) is RequestContext context)
            {
                DeadlineLanes.Remove(context);
                (expired ??= []).Add(context);
            }

            _totals.Rearm();
        }

        if (expired is not null)
        {
            foreach (var context in expired)
            {
                context.Expired(TimeoutKind.Total);
            }
        }
    }

    /// <summary>Aborts every request of the session in flight: the session closes, or its shared connector does.</summary>
    private void AbortLive(Interruption reason = Interruption.SessionClosed)
    {
        List<RequestContext> live = [];
        lock (_gate)
        {
            for (var c = _live; c is not null; c = c.Next)
            {
                live.Add(c);
            }
        }

        foreach (var context in live)
        {
            context.Abort(reason);
        }
    }
}
