using System.IO.Compression;
using System.Xml.Linq;

namespace AsyncHttp.Packaging.Tests.Infrastructure;

/// <summary>
/// A local NuGet feed in a temporary directory, holding the repository's packages as <c>dotnet pack</c> makes them
/// from the libraries' build output. Each run packs a version of its own (a <c>consumer.*</c> suffix on the
/// repository's version), so no package cache can hand an older build to the app that restores from it.
/// </summary>
public sealed class PackageFeed : IAsyncLifetime, IDisposable
{
    /// <summary>The name of the test collection that shares one feed (<see cref="SharedPackageFeed"/>).</summary>
    public const string Collection = "Packages";

    /// <summary>The most a single dotnet command may take on a loaded 2-core machine.</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);

    private readonly TempDirectory _work = new();

    public string Directory => _work.Combine("feed");

    /// <summary>The version every package of this feed has.</summary>
    public string Version { get; private set; } = "";

    public string PackOutput { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var suffix = $"consumer.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

        // One MSBuild run packs every library, as `dotnet pack --no-build` would one by one.
        var packProject = _work.Combine("pack.proj");
        var projects = string.Join(';', Repository.PackableProjects);
        var properties = $"Configuration={Repository.Configuration};NoBuild=true;_IsPacking=true;PackageOutputPath={Directory};VersionSuffix={suffix}";
        await File.WriteAllTextAsync(packProject, $"""
            <Project>
              <Target Name="PackAll">
                <MSBuild Projects="{projects}" Targets="Pack" Properties="{properties}" />
              </Target>
            </Project>
            """);

        var (exitCode, output) = await DotnetCli.RunAsync(_work.Path, ["msbuild", packProject, "-t:PackAll", "-nologo"], CommandTimeout);
        PackOutput = output;
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"Packing failed ({exitCode}):\n{output}");
        }

        Version = (string?)Nuspec("AsyncHttp").Root?.Element(Nuspec("AsyncHttp").Root!.Name.Namespace + "metadata")?.Element(Nuspec("AsyncHttp").Root!.Name.Namespace + "version")
            ?? throw new InvalidOperationException("The AsyncHttp package has no version.");
    }

    /// <summary>The package file of <paramref name="id"/> (<c>.nupkg</c>, or <c>.snupkg</c> for its symbols).</summary>
    public string PackagePath(string id, string extension = "nupkg")
    {
        var matches = System.IO.Directory.GetFiles(Directory, $"{id}.*.{extension}")
            .Where(f => char.IsAsciiDigit(Path.GetFileName(f)[(id.Length + 1)..][0]))
            .ToList();
        return Assert.Single(matches);
    }

    /// <summary>The nuspec inside the package of <paramref name="id"/>.</summary>
    public XDocument Nuspec(string id)
    {
        using var package = ZipFile.OpenRead(PackagePath(id));
        var entry = Assert.Single(package.Entries, e => e.FullName == $"{id}.nuspec");
        using var stream = entry.Open();
        return XDocument.Load(stream);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _work.Dispose();
}
