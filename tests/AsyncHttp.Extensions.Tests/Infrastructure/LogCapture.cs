using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Tests.Infrastructure;

internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    public override string ToString() => $"{Category} [{EventId.Id} {EventId.Name}] {Level}: {Message} {Exception}";
}

/// <summary>A logger provider that records every entry at every level and lets a test await one.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly Lock _lock = new();
    private readonly List<LogEntry> _entries = [];
    private readonly List<(Func<LogEntry, bool> Match, TaskCompletionSource<LogEntry> Signal)> _waiters = [];

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries];
            }
        }
    }

    /// <summary>Completes with the first entry, past or future, that matches.</summary>
    public Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match)
    {
        lock (_lock)
        {
            var found = _entries.Find(e => match(e));
            if (found is not null)
            {
                return Task.FromResult(found);
            }

            var signal = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, signal));
            return signal.Task.WaitAsync(Upstream.Patience);
        }
    }

    public Task<LogEntry> WaitForEventAsync(int eventId, string? category = null)
        => WaitForAsync(e => e.EventId.Id == eventId && (category is null || e.Category == category));

    public ILogger CreateLogger(string categoryName) => new CaptureLogger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        lock (_lock)
        {
            _entries.Add(entry);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(entry))
                {
                    _waiters[i].Signal.TrySetResult(entry);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private sealed class CaptureLogger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
