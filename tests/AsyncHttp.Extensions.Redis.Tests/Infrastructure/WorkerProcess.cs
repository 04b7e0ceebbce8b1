using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace AsyncHttp.Extensions.Redis.Tests.Infrastructure;

/// <summary>
/// One process of a fleet: the worker (a Generic Host with a session on a Redis limit) started with <c>dotnet</c>, its
/// output read line by line. Killed with the test if it is still running.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly string Assembly = typeof(WorkerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "WorkerAssembly").Value!;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProcess(string name, IEnumerable<string> arguments)
    {
        Name = name;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            Environment = { ["DOTNET_NOLOGO"] = "1", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" },
        };
        start.ArgumentList.Add(Assembly);
        start.ArgumentList.Add($"--Fleet:Worker={name}");
        start.ArgumentList.Add("--Fleet:WaitForGo=true");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public string Output => string.Join('\n', _lines);

    /// <summary>The Redis time (Unix ms) of each token its rate limit was granted, from its closing output.</summary>
    public IEnumerable<double> Grants
        => _lines.Where(l => l.StartsWith($"grants {Name} ", StringComparison.Ordinal))
            .SelectMany(l => l[($"grants {Name} ".Length)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
            .Select(t => double.Parse(t, System.Globalization.CultureInfo.InvariantCulture));

    public static WorkerProcess Start(string name, params string[] arguments) => new(name, arguments);

    public Task WhenReady() => _ready.Task.WaitAsync(RedisServer.Patience);

    /// <summary>Lets the worker send (it waits for a line on its standard input).</summary>
    public async Task GoAsync()
    {
        await _process.StandardInput.WriteLineAsync("go");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The worker's closing line (<c>done ...</c>), once it has exited with 0.</summary>
    public async Task<string> WhenDoneAsync(TimeSpan patience)
    {
        await _process.WaitForExitAsync().WaitAsync(patience);
        Assert.True(_process.ExitCode == 0, $"worker {Name} exited with {_process.ExitCode}:\n{Output}");
        return await _done.Task.WaitAsync(patience);
    }

    /// <summary>SIGKILL: the process dies at once, without releasing anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(RedisServer.Patience);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        if (line.StartsWith("ready ", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
        else if (line.StartsWith("done ", StringComparison.Ordinal))
        {
            _done.TrySetResult(line);
        }
    }
}
