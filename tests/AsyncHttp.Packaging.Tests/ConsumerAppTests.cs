using System.Text.Json;
using AsyncHttp.Packaging.Tests.Infrastructure;

namespace AsyncHttp.Packaging.Tests;

/// <summary>
/// The packages, not only the source, work: a fresh app outside the repository, with its own nuget.config (the local
/// feed for AsyncHttp, the usual source for the rest), restores them, builds with warnings as errors, and runs the
/// design card's code (a session that never queues, a session bound from appsettings.json, a Crawler that injects
/// ISessionRegistry) against a loopback server, then against AsyncHttp.Testing's fake upstream.
/// </summary>
[Collection(PackageFeed.Collection)]
public sealed class ConsumerAppTests(PackageFeed feed)
{
    private const int Items = 8;

    [Fact]
    public async Task ConsumerApp_FromThePackagesOnly_RunsTheDesignCard()
    {
        using var app = new TempDirectory();
        CopyConsumerSources(app.Path);
        await File.WriteAllTextAsync(app.Combine("nuget.config"), NugetConfig(app.Combine("packages")));

        // Warnings are errors, so a dependency resolved to another version than asked (NU1603, ...) fails the test. The
        // vulnerability audit is off: it is not what this test checks, and it would need the source's audit data.
        var (buildExit, buildOutput) = await DotnetCli.RunAsync(
            app.Path,
            ["build", "Consumer.csproj", "-c", "Release", $"-p:AsyncHttpVersion={feed.Version}", "-p:TreatWarningsAsErrors=true", "-p:NuGetAudit=false", "-nologo"],
            PackageFeed.CommandTimeout);
        Assert.True(buildExit == 0, buildOutput);

        // Both libraries came in as packages of this run's version, restored from the feed into the app's own folder.
        using (var assets = JsonDocument.Parse(await File.ReadAllTextAsync(app.Combine("obj", "project.assets.json"))))
        {
            var libraries = assets.RootElement.GetProperty("libraries");
            foreach (var id in new[] { "AsyncHttp", "AsyncHttp.Extensions", "AsyncHttp.Testing" })
            {
                Assert.Equal("package", libraries.GetProperty($"{id}/{feed.Version}").GetProperty("type").GetString());
                Assert.True(Directory.Exists(app.Combine("packages", id.ToLowerInvariant(), feed.Version)), buildOutput);
            }
        }

        await using var upstream = await PairingUpstream.StartAsync();
        var (runExit, output) = await DotnetCli.RunAsync(
            app.Path,
            [Path.Combine("bin", "Release", "net10.0", "Consumer.dll"), $"--AsyncHttp:Sessions:bulk:BaseAddress={upstream.BaseAddress}", $"--Count={Items}"],
            PackageFeed.CommandTimeout);

        Assert.True(runExit == 0, output);
        for (var i = 1; i <= Items; i++)
        {
            Assert.Contains($"body: item:{i}\n", output, StringComparison.Ordinal);
        }

        Assert.Contains("priority: 200 ok", output, StringComparison.Ordinal);
        Assert.Contains("session priority: Limit=0 QueueLimit=0 InUse=0 Waiting=0", output, StringComparison.Ordinal);
        Assert.Contains("session bulk: Limit=2 QueueLimit=100 InUse=0 Waiting=0", output, StringComparison.Ordinal);
        Assert.EndsWith("done\n", output, StringComparison.Ordinal);

        // Limit 2 from appsettings.json held at the server: never more than two at once, and the pairs all met.
        Assert.Equal(2, upstream.MaxInFlight);
        Assert.Equal(Items, upstream.UserAgents.Count);
        Assert.All(upstream.UserAgents, ua => Assert.Equal("asynchttp-consumer/1.0", ua));

        // The same app with AsyncHttp.Testing's fake upstream in place of the network.
        var (fakeExit, fakeOutput) = await DotnetCli.RunAsync(
            app.Path,
            [Path.Combine("bin", "Release", "net10.0", "Consumer.dll"), "--AsyncHttp:Sessions:bulk:BaseAddress=http://catalog.test/", "--Count=4", "--UseTestUpstream=true"],
            PackageFeed.CommandTimeout);

        Assert.True(fakeExit == 0, fakeOutput);
        for (var i = 1; i <= 4; i++)
        {
            Assert.Contains($"body: fake:{i}\n", fakeOutput, StringComparison.Ordinal);
        }

        Assert.Contains("priority: 200 ok", fakeOutput, StringComparison.Ordinal);
        Assert.Contains("session bulk: Limit=2 QueueLimit=100 InUse=0 Waiting=0", fakeOutput, StringComparison.Ordinal);
        Assert.Equal(Items, upstream.UserAgents.Count);
    }

    private static void CopyConsumerSources(string destination)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "Consumer");
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }
    }

    private string NugetConfig(string packages)
    {
        // Framework packages (Microsoft.Extensions.*) are read from the machine's package folder when they are there,
        // and otherwise come from the usual source; AsyncHttp packages only ever from the local feed.
        var machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{packages}" />
              </config>
              <packageSources>
                <clear />
                <add key="local" value="{feed.Directory}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="AsyncHttp" />
                  <package pattern="AsyncHttp.*" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
              <fallbackPackageFolders>
                <clear />
                <add key="machine" value="{machinePackages}" />
              </fallbackPackageFolders>
            </configuration>
            """;
    }
}
