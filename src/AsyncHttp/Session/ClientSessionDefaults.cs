using System.Net;

namespace AsyncHttp.Internal;

/// <summary>The defaults of every setting, in one place; the XML docs of the options state them.</summary>
internal static class ClientSessionDefaults
{
    public const int Limit = 100;
    public const int LimitPerHost = 0;
    public const int QueueLimit = 0;
    public const int MaxRedirects = 10;
    public const int MaxResponseHeadersLength = 64; // KiB, as SocketsHttpHandler counts it
    public const long MaxResponseContentBufferSize = 16L * 1024 * 1024;
    public const int MaxLineLength = 128 * 1024; // characters; aiohttp's readline fails past 128 KiB (2 × read_bufsize)
    public const long MaxDecompressedContentSize = 256L * 1024 * 1024;

    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan DnsCacheTtl = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan SockConnectTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan ExpectContinueTimeout = TimeSpan.FromSeconds(1); // SocketsHttpHandler's, and curl's

    public static readonly Version Version = HttpVersion.Version11;
    public const HttpVersionPolicy VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
    public static readonly TimeSpan HappyEyeballsDelay = TimeSpan.FromMilliseconds(250); // RFC 8305's recommendation, and aiohttp's

    /// <summary>The longest delay between two address attempts: a timer's longest (int.MaxValue ms).</summary>
    public static readonly TimeSpan MaxHappyEyeballsDelay = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The longest wait a <see cref="SocketsHttpHandler.Expect100ContinueTimeout"/> takes (int.MaxValue ms).</summary>
    public static readonly TimeSpan MaxExpectContinueTimeout = TimeSpan.FromMilliseconds(int.MaxValue);
}
