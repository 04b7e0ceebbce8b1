using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Samples.Worker;

/// <summary>
/// Builds and runs the worker: a shared connector and two sessions on it from <c>appsettings.json</c>, a demo upstream
/// on 127.0.0.1 unless <c>--upstream URL</c> is given, and <see cref="CrawlService"/>, which stops the host when the
/// crawl is done.
/// </summary>
internal static class WorkerApp
{
    private static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--upstream"] = "Crawl:Upstream",
        ["--count"] = "Crawl:Count",
    };

    /// <summary>Runs the worker to the end of its crawl.</summary>
    /// <param name="args">The command line: <c>--upstream URL</c>, <c>--count N</c>, or any configuration key.</param>
    /// <param name="output">Where progress and the summary go; progress is redrawn in place only on a terminal.</param>
    /// <param name="cancellationToken">Stops the host early.</param>
    /// <returns>0 when every request succeeded, 1 when one failed, 2 for a bad command line or setting.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken = default)
    {
        // The content root is the output folder, where appsettings.json is copied, so that the sample finds it
        // whatever the current directory (dotnet run --project ..., or a test run).
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, SwitchMappings);

        var upstreamArgument = builder.Configuration["Crawl:Upstream"];
        Uri upstream;
        DemoUpstream? demo = null;
        if (string.IsNullOrWhiteSpace(upstreamArgument))
        {
            demo = await DemoUpstream.StartAsync(cancellationToken);
            upstream = demo.BaseAddress;
        }
        else if (!TryParseUpstream(upstreamArgument, out upstream))
        {
            await output.WriteLineAsync($"--upstream must be an absolute http or https URL; it is '{upstreamArgument}'.");
            return 2;
        }

        await using (demo)
        {
            // The upstream's address is known only now. A source added last wins over appsettings.json, so both
            // sessions get it as their BaseAddress while everything else still comes from the file.
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["AsyncHttp:Sessions:bulk:BaseAddress"] = upstream.AbsoluteUri,
                ["AsyncHttp:Sessions:priority:BaseAddress"] = upstream.AbsoluteUri,
            });
            builder.Services.ConfigureClientSessionDefaults(builder.Configuration.GetSection("AsyncHttp:Defaults"));

            // One pool for both sessions: bulk's own Limit (12 of the connector's 16) leaves priority room.
            builder.Services.AddClientConnectors(builder.Configuration.GetSection("AsyncHttp:Connectors"));
            builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));

            // How long each session's requests wait in the queue, from its trace callbacks.
            builder.Services.AddSingleton<QueueWaits>();
            builder.Services.AddClientSession("bulk").AddTrace(sp => sp.GetRequiredService<QueueWaits>().Trace);
            builder.Services.AddClientSession("priority").AddTrace(sp => sp.GetRequiredService<QueueWaits>().Trace);

            builder.Services.AddOptions<CrawlOptions>()
                .BindConfiguration(CrawlOptions.SectionName)
                .Validate(o => o.IsValid(), "Crawl: Count must be 1 to 100000, PriorityInterval and Deadline positive.")
                .ValidateOnStart();
            builder.Services.TryAddSingleton(TimeProvider.System);
            var run = new CrawlRun(output, IsTerminal(output), upstream, demo is not null);
            builder.Services.AddSingleton(run);
            builder.Services.AddHostedService<CrawlService>();

            // RunAsync disposes the host, and with it the sessions, before it returns; the demo upstream goes after.
            try
            {
                await builder.Build().RunAsync(cancellationToken);
            }
            catch (OptionsValidationException ex)
            {
                // A bad setting stops the host at start; the message names the session (or connector) and the key.
                await output.WriteLineAsync($"Configuration error: {ex.Message}");
                return 2;
            }
            catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
            {
                // Bad settings in several sessions or connectors: every one of them, at once.
                foreach (var error in ex.InnerExceptions)
                {
                    await output.WriteLineAsync($"Configuration error: {error.Message}");
                }

                return 2;
            }

            return run.ExitCode;
        }
    }

    private static bool TryParseUpstream(string text, out Uri upstream)
    {
        // A base address must end in '/' for relative URLs ("item/1") to join below its path.
        var ok = Uri.TryCreate(text.TrimEnd('/') + "/", UriKind.Absolute, out var parsed)
            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps);
        upstream = ok ? parsed! : new Uri("http://127.0.0.1/");
        return ok;
    }

    private static bool IsTerminal(TextWriter output)
        => ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
}
