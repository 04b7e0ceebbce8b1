using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// A response whose headers are in and whose body is still on the connection. The body is read by one of the
/// <c>ReadAs*</c> methods or as a stream; the connection's slot goes back to the connector at the end of the body, on
/// <see cref="Release"/> or on dispose, whichever comes first. Always dispose a response (<c>await using</c>).
/// </summary>
public sealed class ClientResponse : IAsyncDisposable, IDisposable
{
    private readonly HttpResponseMessage _message;
    private readonly RequestContext _context;
    private int _released;

    internal ClientResponse(HttpRequestMessage request, HttpResponseMessage message, RequestContext context, IReadOnlyList<Uri>? history = null)
    {
        _message = message;
        _context = context;
        Method = request.Method;
        Url = message.RequestMessage?.RequestUri ?? request.RequestUri!;
        History = history ?? [];
        context.Response = message;
        if (message.Content is ReleasingContent content)
        {
            context.FinalLease = content.Lease;
        }
    }

    /// <summary>Releases the slot of a response that was dropped without being released, and says so in the log.</summary>
    ~ClientResponse()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        _context.Session.OnResponseLeaked(Method, Url);
        if (_message.Content is ReleasingContent content)
        {
            content.Lease.Release();
        }

        // Closing the connection is I/O: keep it off the finalizer thread.
        ThreadPool.UnsafeQueueUserWorkItem(static context => context.Abort(), _context, preferLocal: false);
    }

    /// <summary>The request method.</summary>
    public HttpMethod Method { get; }

    /// <summary>The URL this response came from (after redirects, the last one).</summary>
    public Uri Url { get; }

    /// <summary>The status code.</summary>
    public HttpStatusCode StatusCode => _message.StatusCode;

    /// <summary>The status code as a number.</summary>
    public int Status => (int)_message.StatusCode;

    /// <summary>The reason phrase sent by the server.</summary>
    public string? ReasonPhrase => _message.ReasonPhrase;

    /// <summary>The HTTP version of the response.</summary>
    public Version Version => _message.Version;

    /// <summary>True for a status from 200 to 299.</summary>
    public bool IsSuccessStatusCode => _message.IsSuccessStatusCode;

    /// <summary>The response headers.</summary>
    public HttpResponseHeaders Headers => _message.Headers;

    /// <summary>The headers of the body (Content-Type, Content-Length, ...).</summary>
    public HttpContentHeaders ContentHeaders => _message.Content.Headers;

    /// <summary>The URLs of the redirect responses that led to this one, oldest first.</summary>
    public IReadOnlyList<Uri> History { get; }

    /// <summary>True once the slot went back to the connector: the body was read to its end, or the response released.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0
        || (_message.Content is ReleasingContent content && content.Lease.IsReleased);

    /// <summary>Throws <see cref="ResponseStatusException"/> when the status is 400 or above.</summary>
    /// <returns>This response, for chaining.</returns>
    public ClientResponse EnsureSuccessStatusCode()
    {
        if (Status >= 400)
        {
            throw CreateStatusException();
        }

        return this;
    }

    /// <summary>Opens the body as a stream. Reading it to the end releases the slot; so does disposing it.</summary>
    /// <param name="cancellationToken">Cancels opening the stream.</param>
    public async Task<Stream> ReadAsStreamAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
        try
        {
            return await _message.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Dispose();
            throw _context.Translate(ex, inBody: true, cancellationToken);
        }
    }

    /// <summary>
    /// Reads the whole body into memory, up to <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/>, and
    /// releases the slot.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    /// <exception cref="ClientPayloadException">The body is larger than the buffer limit.</exception>
    public async Task<byte[]> ReadAsBytesAsync(CancellationToken cancellationToken = default)
    {
        var limit = _context.Session.MaxResponseContentBufferSize;
        if (ContentHeaders.ContentLength is { } declared && declared > limit)
        {
            Dispose();
            throw TooLarge(limit);
        }

        var stream = await ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ContentHeaders.ContentLength ?? 4096, limit) + 1);
            var length = 0;
            try
            {
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return buffer.AsSpan(0, length).ToArray();
                    }

                    length += read;
                    if (length > limit)
                    {
                        Dispose();
                        throw TooLarge(limit);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Reads the whole body as text, decoded with the charset of Content-Type (UTF-8 when none is given, or as a
    /// byte-order mark says), and releases the slot.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    public async Task<string> ReadAsStringAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await ReadAsBytesAsync(cancellationToken).ConfigureAwait(false);
        return Decode(bytes, ContentHeaders.ContentType?.CharSet);
    }

    /// <summary>Gives the slot back now, closing the connection if the body was not read to its end.</summary>
    public void Release() => Dispose();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        GC.SuppressFinalize(this);
        _message.Dispose();
        _context.Complete();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    internal ResponseStatusException CreateStatusException()
        => new(StatusCode, ReasonPhrase, Url, Method, Headers, History);

    private static ClientPayloadException TooLarge(long limit)
        => new($"The response body is larger than MaxResponseContentBufferSize ({limit} bytes); read it as a stream instead.");

    internal static string Decode(byte[] bytes, string? charset)
    {
        var encoding = Encoding.UTF8;
        if (!string.IsNullOrEmpty(charset))
        {
            try
            {
                encoding = Encoding.GetEncoding(charset.Trim('"'));
            }
            catch (ArgumentException)
            {
                throw new ClientPayloadException($"The response charset '{charset}' is not supported.");
            }
        }

        // A byte-order mark wins over the declared charset, as browsers and HttpContent do.
        ReadOnlySpan<byte> span = bytes;
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            return Encoding.UTF8.GetString(span[3..]);
        }

        if (span.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            return Encoding.Unicode.GetString(span[2..]);
        }

        if (span.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return Encoding.BigEndianUnicode.GetString(span[2..]);
        }

        return encoding.GetString(span);
    }
}
