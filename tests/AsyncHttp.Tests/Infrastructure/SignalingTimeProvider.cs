using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>A <see cref="FakeTimeProvider"/> that says when a timer with a given due time is created, so a test can
/// advance time exactly when the code under test is waiting on it instead of sleeping.</summary>
public sealed class SignalingTimeProvider : FakeTimeProvider
{
    private readonly ConcurrentDictionary<TimeSpan, TaskCompletionSource> _created = new();

    public SignalingTimeProvider()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Completes once a timer due after <paramref name="dueTime"/> has been created.</summary>
    public Task WhenTimerCreated(TimeSpan dueTime) => Signal(dueTime).Task.WaitAsync(TestServer.Patience);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        Signal(dueTime).TrySetResult();
        return timer;
    }

    private TaskCompletionSource Signal(TimeSpan dueTime)
        => _created.GetOrAdd(dueTime, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
