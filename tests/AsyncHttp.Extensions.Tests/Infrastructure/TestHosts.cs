using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Extensions.Tests.Infrastructure;

/// <summary>Real hosts, as an application makes them, with logs captured instead of written to the console.</summary>
internal static class TestHosts
{
    /// <summary>
    /// A default application builder whose content root (and so appsettings.json) is <paramref name="contentRoot"/>;
    /// appsettings.json is watched for changes only when <paramref name="reloadOnChange"/>, so that the many hosts of
    /// the test run do not use up the machine's file watchers.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(LogCapture logs, string? contentRoot = null, bool reloadOnChange = false)
    {
        var configuration = new ConfigurationManager();
        configuration["hostBuilder:reloadConfigOnChange"] = reloadOnChange ? "true" : "false";
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            EnvironmentName = Environments.Production,
            ContentRootPath = contentRoot ?? AppContext.BaseDirectory,
            Configuration = configuration,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        return builder;
    }
}

/// <summary>A temporary directory with an appsettings.json, deleted at the end of the test.</summary>
internal sealed class TempConfigDirectory : IDisposable
{
    public TempConfigDirectory(string appSettingsJson)
    {
        Path = Directory.CreateTempSubdirectory("asynchttp-ext-").FullName;
        WriteAppSettings(appSettingsJson);
    }

    public string Path { get; }

    public string AppSettingsPath => System.IO.Path.Combine(Path, "appsettings.json");

    /// <summary>Replaces appsettings.json in one step (write aside, then rename), so a watcher never reads half a file.</summary>
    public void WriteAppSettings(string json)
    {
        var aside = System.IO.Path.Combine(Path, $"appsettings.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(aside, json);
        File.Move(aside, AppSettingsPath, overwrite: true);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A watcher may still hold the directory; the temp folder is cleaned by the system.
        }
    }
}
