namespace AsyncHttp.Packaging.Tests.Infrastructure;

/// <summary>A fresh directory outside the repository (so none of its build files apply), deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("asynchttp-consumer-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that still holds a file lets go of it when it exits; /tmp is cleaned by the system.
        }
    }
}
