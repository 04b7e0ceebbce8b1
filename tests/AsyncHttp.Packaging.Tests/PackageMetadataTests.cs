using System.IO.Compression;
using System.Reflection.Metadata;
using System.Text;
using System.Xml.Linq;
using AsyncHttp.Packaging.Tests.Infrastructure;

namespace AsyncHttp.Packaging.Tests;

/// <summary>What a company checks before it adopts a package: licence, readme, repository, symbols, dependencies.</summary>
[Collection(PackageFeed.Collection)]
public sealed class PackageMetadataTests(PackageFeed feed)
{
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    [Theory]
    [InlineData("AsyncHttp")]
    [InlineData("AsyncHttp.Extensions")]
    [InlineData("AsyncHttp.Testing")]
    [InlineData("AsyncHttp.HttpClientFactory")]
    [InlineData("AsyncHttp.Extensions.Redis")]
    public void Nuspec_EveryPackage_CarriesLicenceReadmeRepositoryAndDescription(string id)
    {
        var metadata = Metadata(id);

        Assert.Equal(feed.Version, Value(metadata, "version"));
        var license = metadata.Element(metadata.Name.Namespace + "license")!;
        Assert.Equal("expression", (string?)license.Attribute("type"));
        Assert.Equal("MIT", license.Value);
        Assert.Equal("README.md", Value(metadata, "readme"));
        Assert.False(string.IsNullOrWhiteSpace(Value(metadata, "description")));
        Assert.Contains("aiohttp", Value(metadata, "tags").Split(' '));
        var repository = metadata.Element(metadata.Name.Namespace + "repository")!;
        Assert.Equal("git", (string?)repository.Attribute("type"));
        Assert.StartsWith("https://github.com/", (string?)repository.Attribute("url"), StringComparison.Ordinal);
        Assert.Matches("^[0-9a-f]{40}$", (string?)repository.Attribute("commit"));

        using var package = ZipFile.OpenRead(feed.PackagePath(id));
        Assert.Contains(package.Entries, e => e.FullName == "README.md" && e.Length > 0);
        Assert.Contains(package.Entries, e => e.FullName == $"lib/net10.0/{id}.dll");
        Assert.Contains(package.Entries, e => e.FullName == $"lib/net10.0/{id}.xml");
    }

    [Fact]
    public void Nuspec_Dependencies_AreTheLowestVersionsTheCodeNeeds()
    {
        var core = Dependencies("AsyncHttp");
        var extensions = Dependencies("AsyncHttp.Extensions");
        var testing = Dependencies("AsyncHttp.Testing");

        Assert.Equal(new Dictionary<string, string> { ["Microsoft.Extensions.Logging.Abstractions"] = "10.0.0", ["System.Threading.RateLimiting"] = "10.0.0" }, core);

        // Extensions uses public API only: this AsyncHttp or a later one.
        Assert.Equal(feed.Version, extensions["AsyncHttp"]);
        Assert.All(extensions.Where(d => d.Key != "AsyncHttp"), d =>
        {
            Assert.StartsWith("Microsoft.Extensions.", d.Key, StringComparison.Ordinal);
            Assert.Equal("10.0.0", d.Value);
        });

        // The test kit uses the public API only: this version or a later one.
        Assert.Equal(new Dictionary<string, string> { ["AsyncHttp"] = feed.Version, ["AsyncHttp.Extensions"] = feed.Version }, testing);

        // The factory integration: public API only, and the lowest Microsoft.Extensions.Http(.Resilience) it needs.
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["AsyncHttp"] = feed.Version,
                ["AsyncHttp.Extensions"] = feed.Version,
                ["Microsoft.Extensions.Http"] = "10.0.0",
                ["Microsoft.Extensions.Http.Resilience"] = "10.0.0",
            },
            Dependencies("AsyncHttp.HttpClientFactory"));

        // The Redis limits: public API only, StackExchange.Redis, and the lowest Microsoft.Extensions.* they need.
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["AsyncHttp"] = feed.Version,
                ["AsyncHttp.Extensions"] = feed.Version,
                ["StackExchange.Redis"] = "2.8.16",
                ["Microsoft.Extensions.Configuration.Binder"] = "10.0.0",
                ["Microsoft.Extensions.Options"] = "10.0.0",
            },
            Dependencies("AsyncHttp.Extensions.Redis"));
    }

    [Theory]
    [InlineData("AsyncHttp")]
    [InlineData("AsyncHttp.Extensions")]
    [InlineData("AsyncHttp.Testing")]
    [InlineData("AsyncHttp.HttpClientFactory")]
    [InlineData("AsyncHttp.Extensions.Redis")]
    public void Symbols_EveryPackage_HasAPdbWithSourceLinkToTheRepository(string id)
    {
        using var symbols = ZipFile.OpenRead(feed.PackagePath(id, "snupkg"));
        var pdb = Assert.Single(symbols.Entries, e => e.FullName == $"lib/net10.0/{id}.pdb");
        using var buffer = new MemoryStream();
        using (var stream = pdb.Open())
        {
            stream.CopyTo(buffer);
        }

        buffer.Position = 0;
        using var provider = MetadataReaderProvider.FromPortablePdbStream(buffer);
        var reader = provider.GetMetadataReader();
        var sourceLink = reader.CustomDebugInformation
            .Select(reader.GetCustomDebugInformation)
            .Single(info => reader.GetGuid(info.Kind) == SourceLinkKind);
        var json = Encoding.UTF8.GetString(reader.GetBlobBytes(sourceLink.Value));

        Assert.Matches("https://raw.githubusercontent.com/[^/]+/[^/]+/[0-9a-f]{40}/", json);
    }

    private XElement Metadata(string id)
    {
        var root = feed.Nuspec(id).Root!;
        return root.Element(root.Name.Namespace + "metadata")!;
    }

    private static string Value(XElement metadata, string name) => metadata.Element(metadata.Name.Namespace + name)?.Value ?? "";

    private Dictionary<string, string> Dependencies(string id)
    {
        var metadata = Metadata(id);
        var group = Assert.Single(metadata.Descendants(metadata.Name.Namespace + "group"));
        Assert.Equal("net10.0", (string?)group.Attribute("targetFramework"));
        return group.Elements(metadata.Name.Namespace + "dependency")
            .ToDictionary(d => (string)d.Attribute("id")!, d => (string)d.Attribute("version")!);
    }
}
