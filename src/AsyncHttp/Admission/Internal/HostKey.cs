namespace AsyncHttp.Internal;

/// <summary>What a per-host limit counts: scheme, host and port.</summary>
internal readonly record struct HostKey(string Scheme, string Host, int Port)
{
    public static HostKey From(Uri uri) => new(uri.Scheme, uri.IdnHost, uri.Port);

    public override string ToString() => $"{Scheme}://{Host}:{Port}";
}
