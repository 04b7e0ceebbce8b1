using System.Reflection;
using AsyncHttp.Extensions.Internal;

namespace AsyncHttp.Extensions.Tests;

/// <summary>
/// Issue 3, point 6. The build itself is the main proof: both libraries set IsAotCompatible, which turns on the trim,
/// AOT and single-file analyzers, and CI builds treat their warnings as errors. These tests check the outputs.
/// </summary>
public sealed class AotCompatibilityTests
{
    [Theory]
    [InlineData(typeof(ClientSession))]
    [InlineData(typeof(ISessionRegistry))]
    public void Assembly_Library_IsMarkedTrimmable(Type typeInLibrary)
    {
        var metadata = typeInLibrary.Assembly.GetCustomAttributes<AssemblyMetadataAttribute>();

        Assert.Contains(metadata, m => m.Key == "IsTrimmable" && m.Value == "True");
    }

    [Fact]
    public void Assembly_Extensions_BindsConfigurationWithGeneratedCode()
    {
        // The binding source generator emits its interceptors in this namespace; without it, Bind would use reflection.
        var generated = typeof(SessionRegistry).Assembly.GetTypes()
            .Where(t => t.Namespace == "Microsoft.Extensions.Configuration.Binder.SourceGeneration");

        Assert.NotEmpty(generated);
    }
}
