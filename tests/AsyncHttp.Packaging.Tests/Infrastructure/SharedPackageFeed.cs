namespace AsyncHttp.Packaging.Tests.Infrastructure;

/// <summary>The tests of this collection share one <see cref="PackageFeed"/>: the libraries are packed once per run.</summary>
[CollectionDefinition(PackageFeed.Collection)]
public sealed class SharedPackageFeed : ICollectionFixture<PackageFeed>
{
}
