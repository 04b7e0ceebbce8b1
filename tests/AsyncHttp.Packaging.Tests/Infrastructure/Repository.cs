using System.Reflection;

namespace AsyncHttp.Packaging.Tests.Infrastructure;

/// <summary>Where the repository and its build output are, as the test project's build recorded them.</summary>
internal static class Repository
{
    public static string Root { get; } = Metadata("RepositoryRoot");

    /// <summary>The configuration this test project (and so the libraries before it) was built in.</summary>
    public static string Configuration { get; } = Metadata("Configuration");

    /// <summary>The projects that ship as packages.</summary>
    public static IReadOnlyList<string> PackableProjects { get; } =
    [
        Path.Combine(Root, "src", "AsyncHttp", "AsyncHttp.csproj"),
        Path.Combine(Root, "src", "AsyncHttp.Extensions", "AsyncHttp.Extensions.csproj"),
        Path.Combine(Root, "src", "AsyncHttp.Testing", "AsyncHttp.Testing.csproj"),
        Path.Combine(Root, "src", "AsyncHttp.HttpClientFactory", "AsyncHttp.HttpClientFactory.csproj"),
        Path.Combine(Root, "src", "AsyncHttp.Extensions.Redis", "AsyncHttp.Extensions.Redis.csproj"),
    ];

    private static string Metadata(string key)
        => typeof(Repository).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
            ?? throw new InvalidOperationException($"The test assembly has no {key} metadata.");
}
