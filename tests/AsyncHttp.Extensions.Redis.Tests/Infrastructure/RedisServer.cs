using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis.Tests.Infrastructure;

/// <summary>
/// A real redis-server (Debian's) of the test class's own: on a free loopback port, in a temporary directory, without
/// persistence. Stop and start it again to play an outage; it is gone, directory and all, when disposed.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The OperationTimeout of limits in tests that do not play an outage: a first call on a loaded machine (JIT, a
    /// busy thread pool) can take longer than the default second, which would count as one.
    /// </summary>
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(10);

    private readonly string _directory = Directory.CreateTempSubdirectory("asynchttp-redis-").FullName;
    private Process? _process;

    public int Port { get; } = FreePort();

    /// <summary>The connection string of this server.</summary>
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000";

    public async Task InitializeAsync() => await StartAsync();

    public async Task DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>A connection of its own that reconnects fast after an outage (as each process of a fleet has).</summary>
    public async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var options = ConfigurationOptions.Parse(Configuration);
        options.ReconnectRetryPolicy = new LinearRetry(200);
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async Task StartAsync()
    {
        if (_process is not null)
        {
            return;
        }

        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _directory, "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "notice", "--enable-debug-command", "local" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start; install it (apt-get install redis-server).");
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server on port {Port} exited with {process.ExitCode}."));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(Patience);
    }

    /// <summary>Stops the server (SIGKILL: no save, no goodbye); everything it held is lost, as after a crash without persistence.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(Patience);
        _process.Dispose();
        _process = null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
