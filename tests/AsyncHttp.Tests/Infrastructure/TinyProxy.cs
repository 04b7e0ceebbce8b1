using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncHttp.Tests.Infrastructure;

/// <summary>
/// Debian's tinyproxy, a real forward proxy, run by the tests with a config of their own: 127.0.0.1 on a free port,
/// <c>CONNECT</c> allowed to the given ports only, Basic authentication when asked. Started once per test class (a
/// class fixture) and stopped by its process id. It logs to its standard output, which is read line by line: the
/// start is awaited on its "Accepting connections" line, never on the clock, and the client connections and requests
/// it received are counted from its log.
/// </summary>
/// <remarks>tinyproxy closes each client connection after its response: a plain-HTTP connection to it carries one request.</remarks>
public sealed class TinyProxy : IAsyncDisposable
{
    private const string Executable = "/usr/bin/tinyproxy";

    private readonly Process _process;
    private readonly string _directory;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _output = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Signal)> _waiters = [];
    private int _connections;

    private TinyProxy(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Url = new Uri($"http://127.0.0.1:{port}");
    }

    /// <summary>The proxy's URL, without credentials.</summary>
    public Uri Url { get; }

    /// <summary>Client connections the proxy accepted.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The request lines the proxy received (<c>GET http://... HTTP/1.1</c>, <c>CONNECT host:port HTTP/1.1</c>).</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>Everything the proxy logged, for a failure's message and for checks that a secret never appears.</summary>
    public string Output => string.Join('\n', _output);

    /// <param name="connectPorts">The ports <c>CONNECT</c> may reach (tinyproxy refuses others with 403).</param>
    /// <param name="user">With <paramref name="password"/>: the Basic credentials the proxy requires.</param>
    /// <param name="password">The user's password.</param>
    public static async Task<TinyProxy> StartAsync(IEnumerable<int> connectPorts, string? user = null, string? password = null)
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: install Debian's tinyproxy (apt-get install tinyproxy; .ci/run does).");
        }

        var directory = Directory.CreateTempSubdirectory("asynchttp-tinyproxy-").FullName;
        var port = FreePort();
        var config = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"Port {port}")
            .AppendLine("Listen 127.0.0.1")
            .AppendLine("Timeout 60")
            .AppendLine("MaxClients 100")
            .AppendLine("Allow 127.0.0.1")
            .AppendLine("LogLevel Info")
            .AppendLine("DisableViaHeader Yes");
        foreach (var connectPort in connectPorts)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"ConnectPort {connectPort}");
        }

        if (user is not null)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"BasicAuth {user} {password}");
        }

        var configPath = Path.Combine(directory, "tinyproxy.conf");
        await File.WriteAllTextAsync(configPath, config.ToString());
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(Executable, ["-d", "-c", configPath])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        var proxy = new TinyProxy(process, directory, port);
        process.OutputDataReceived += (_, e) => proxy.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => proxy.OnLine(e.Data);
        process.Exited += (_, _) => proxy._ready.TrySetException(new InvalidOperationException($"tinyproxy exited at start:\n{proxy.Output}"));
        process.EnableRaisingEvents = true;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await proxy._ready.Task.WaitAsync(TestServer.Patience);
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }

        return proxy;
    }

    /// <summary>
    /// Completes once the proxy has received a request whose line contains <paramref name="text"/> (as
    /// <c>GET http://127.0.0.1:5000/ok</c>, <c>CONNECT 127.0.0.1:5001</c>): its log is read as it comes, so a response
    /// may reach the client before the proxy's line about it reaches the test.
    /// </summary>
    public Task WhenRequested(string text)
    {
        lock (_waiters)
        {
            if (_requests.Any(r => r.Contains(text, StringComparison.Ordinal)))
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((r => r.Contains(text, StringComparison.Ordinal), signal));
            return signal.Task.WaitAsync(TestServer.Patience);
        }
    }

    /// <summary>The proxy's URL with credentials in its user info.</summary>
    public Uri UrlWith(string user, string password) => new($"http://{user}:{password}@{Url.Authority}");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync().WaitAsync(TestServer.Patience);
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        if (line.Contains("Accepting connections", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
        else if (line.Contains("]: Connect (file descriptor", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _connections);
        }
        else if (line.IndexOf("]: Request (file descriptor ", StringComparison.Ordinal) is var at and >= 0)
        {
            var request = line[(line.IndexOf("): ", at, StringComparison.Ordinal) + 3)..];
            lock (_waiters)
            {
                _requests.Enqueue(request);
                foreach (var (match, signal) in _waiters.Where(w => w.Match(request)).ToList())
                {
                    signal.TrySetResult();
                }
            }
        }
    }
}
