using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AsyncHttp.Internal;

namespace AsyncHttp;

/// <summary>
/// A response whose headers are in and whose body is still on the connection. The body is read by one of the
/// <c>ReadAs*</c> methods or as a stream; the connection's slot goes back to the connector at the end of the body, on
/// <see cref="Release"/> or on dispose, whichever comes first. Always dispose a response (<c>await using</c>).
/// </summary>
public sealed class ClientResponse : IAsyncDisposable, IDisposable, IBodyGuard
{
    // What became of the body: read by no one yet, being buffered, buffered (kept for later reads), handed out as a
    // stream (gone once read), or lost to a failed buffered read.
    private const int Unread = 0;
    private const int Buffering = 1;
    private const int Buffered = 2;
    private const int Streamed = 3;
    private const int Failed = 4;

    private readonly HttpResponseMessage _message;
    private readonly RequestContext _context;

    // The slot and the transport's body; null for a response that did not come through admission (a middleware's own).
    private readonly Connector.SlotLease? _lease;
    private byte[]? _buffered;
    private int _bodyState;
    private int _disposed;

    internal ClientResponse(HttpRequestMessage request, HttpResponseMessage message, RequestContext context, IReadOnlyList<RedirectHop>? history, Connector.SlotLease? lease)
    {
        _message = message;
        _context = context;
        _lease = lease;
        Method = request.Method;
        Url = message.RequestMessage?.RequestUri ?? request.RequestUri!;
        History = history ?? [];
        if (message.Content is ReleasingContent)
        {
            // The content guards its slot against a leak itself, and every stream it opens keeps it reachable.
            GC.SuppressFinalize(this);
        }

        context.Finish(lease);
    }

    /// <summary>
    /// Releases the slot of a response that was dropped without being released, and says so in the log. A stream this
    /// response opened keeps it reachable: a body still being read is never reclaimed.
    /// </summary>
    ~ClientResponse()
    {
        _context.Session.OnGuardFinalized();
        // A body read to its end gave its slot back already: nothing leaked.
        if (Volatile.Read(ref _disposed) != 0 || _lease is { IsReleased: true })
        {
            return;
        }

        if (_lease is not null)
        {
            _context.Session.OnResponseLeaked(Method, Url);
        }

        // Closing the connection is I/O: keep it off the finalizer thread.
        ThreadPool.UnsafeQueueUserWorkItem(static context => context.Reclaim(), _context, preferLocal: false);
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

    /// <summary>The redirects that led to this response, oldest first.</summary>
    public IReadOnlyList<RedirectHop> History { get; }

    /// <summary>
    /// True once the slot went back to the connector: the body was read to its end, the response has no body (a HEAD,
    /// 204 or 304 response, or an empty body, is released when its headers are in), or it was released or disposed.
    /// </summary>
    public bool IsReleased => Volatile.Read(ref _disposed) != 0 || _lease is { IsReleased: true };

    /// <summary>True for a response that has no body whatever its headers declare (HEAD, 1xx, 204, 304).</summary>
    private bool HasNoBody => BodyRules.HasNoBody(Method, Status);

    /// <summary>The body length the server declared, as the transport parsed it; zero for a response without a body.</summary>
    private long? DeclaredLength => HasNoBody ? 0
        : _message.Content is ReleasingContent content ? content.DeclaredLength
        : ContentHeaders.ContentLength;

    /// <summary>
    /// Throws <see cref="ResponseStatusException"/> unless the status is 2xx (200 to 299), as
    /// <see cref="HttpResponseMessage.EnsureSuccessStatusCode"/> does: a redirect that was not followed (a 3xx, such as
    /// 304 or a 302 with <see cref="RequestOptions.AllowRedirects"/> off) throws too. <see cref="ClientSessionOptions.RaiseForStatus"/>
    /// keeps aiohttp's rule instead and throws from 400 only.
    /// </summary>
    /// <remarks>The response is not released: dispose it as usual (<c>await using</c>).</remarks>
    /// <returns>This response, for chaining.</returns>
    /// <exception cref="ResponseStatusException">The status is not 2xx.</exception>
    public ClientResponse EnsureSuccessStatusCode()
    {
        if (!IsSuccessStatusCode)
        {
            throw CreateStatusException();
        }

        return this;
    }

    /// <summary>
    /// Opens the body as a stream. Reading it to the end releases the slot; so does disposing it. The body can be read
    /// as a stream once; after <see cref="ReadAsBytesAsync"/> the stream reads the body that was kept.
    /// </summary>
    /// <param name="cancellationToken">Cancels opening the stream.</param>
    /// <exception cref="InvalidOperationException">The body was read as a stream already.</exception>
    public async Task<Stream> ReadAsStreamAsync(CancellationToken cancellationToken = default)
        => await OpenStreamAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Opens the body for a streaming reader: the body kept by a buffered read, or else the transport's, once. The
    /// transport's content opens its stream without I/O, so it is opened synchronously where it can be: no
    /// <see cref="Task{Stream}"/> per read.
    /// </summary>
    private ValueTask<Stream> OpenStreamAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _bodyState) == Buffered)
        {
            return new ValueTask<Stream>(new MemoryStream(_buffered!, writable: false));
        }

        if (Interlocked.CompareExchange(ref _bodyState, Streamed, Unread) != Unread)
        {
            throw AlreadyRead();
        }

        return OpenBody(cancellationToken);
    }

    /// <summary>The body's stream, from the transport's content through the slot's lease.</summary>
    private ValueTask<Stream> OpenBody(CancellationToken cancellationToken)
    {
        ThrowIfGone(cancellationToken);
        if (HasNoBody)
        {
            return new ValueTask<Stream>(Stream.Null);
        }

        try
        {
            if (_lease is { } lease && _message.Content is not ReleasingContent)
            {
                // The stream keeps this response reachable, so the collector never reclaims a body being read.
                return new ValueTask<Stream>(new ReleasingStream(lease.Body!.ReadAsStream(cancellationToken), lease, _context, DeclaredLength, owner: this));
            }

            return _message.Content is ReleasingContent content
                ? new ValueTask<Stream>(content.ReadAsStream(cancellationToken))
                : new ValueTask<Stream>(_message.Content.ReadAsStreamAsync(cancellationToken));
        }
        catch (Exception ex)
        {
            Dispose();
            throw _context.Translate(ex, inBody: true, cancellationToken);
        }
    }

    /// <summary>
    /// Reads the whole body into memory, up to <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/> (as it
    /// was when the request started), and releases the slot. The body is kept: a later buffered read returns it again
    /// (this method a copy of it), and a later stream reads it from memory.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    /// <exception cref="ClientPayloadException">
    /// The body is larger than the buffer limit, or than one array can hold (<see cref="Array.MaxLength"/>).
    /// </exception>
    /// <exception cref="InvalidOperationException">The body was read as a stream already, or an earlier read failed.</exception>
    public Task<byte[]> ReadAsBytesAsync(CancellationToken cancellationToken = default)
        // A later read gets a copy, so the array the first read returned stays its caller's.
        => Volatile.Read(ref _bodyState) == Buffered ? Task.FromResult<byte[]>([.. _buffered!]) : BufferAsync(cancellationToken);

    /// <summary>The body, buffered by the first read and kept.</summary>
    private ValueTask<byte[]> BodyAsync(CancellationToken cancellationToken)
        => Volatile.Read(ref _bodyState) == Buffered ? new ValueTask<byte[]>(_buffered!) : new ValueTask<byte[]>(BufferAsync(cancellationToken));

    /// <summary>Reads the body into memory and keeps it, once: one state machine for the read.</summary>
    private Task<byte[]> BufferAsync(CancellationToken cancellationToken)
        => Interlocked.CompareExchange(ref _bodyState, Buffering, Unread) == Unread
            ? ReadBodyAsync(cancellationToken)
            : Task.FromException<byte[]>(AlreadyRead());

    /// <summary>Records the body a buffered read got, for the reads after it.</summary>
    private byte[] Keep(byte[] body)
    {
        _buffered = body;
        Volatile.Write(ref _bodyState, Buffered);
        return body;
    }

    private async Task<byte[]> ReadBodyAsync(CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfGone(cancellationToken);
            var declaredLength = DeclaredLength;
            if (declaredLength == 0)
            {
                return Keep([]);
            }

            var limit = _context.Options.MaxResponseContentBufferSize;
            if (declaredLength is { } declared && declared > limit)
            {
                Dispose();
                throw TooLarge(limit);
            }

            // A cap above 2 GiB still cannot make an array larger than the runtime allows.
            if (declaredLength > Array.MaxLength)
            {
                Dispose();
                throw BodyLimits.TooLargeForArray(declaredLength);
            }

            var stream = await OpenBody(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                if (_lease is not null && declaredLength is { } exact)
                {
                    // The transport holds the body to the length it declared: one array of that size, and no copy.
                    var body = GC.AllocateUninitializedArray<byte>((int)exact);
                    var filled = 0;
                    while (filled < body.Length)
                    {
                        var read = await stream.ReadAsync(body.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                        if (read == 0)
                        {
                            return Keep(body[..filled]);
                        }

                        filled += read;
                    }

                    return Keep(body);
                }

                // The buffer grows to one byte past the cap, to see a body pass it, or to the largest array.
                var most = (int)Math.Min(limit, Array.MaxLength - 1L) + 1;
                var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min((declaredLength ?? 4096) + 1, most));
                var length = 0;
                try
                {
                    while (true)
                    {
                        if (length == buffer.Length)
                        {
                            if (length == Array.MaxLength)
                            {
                                Dispose();
                                throw BodyLimits.TooLargeForArray(null);
                            }

                            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * buffer.Length, most));
                            buffer.AsSpan(0, length).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                        }

                        var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                        if (read == 0)
                        {
                            return Keep(buffer.AsSpan(0, length).ToArray());
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
        catch
        {
            Volatile.Write(ref _bodyState, Failed);
            throw;
        }
    }

    /// <summary>
    /// Throws when the body can no longer be read: <see cref="ObjectDisposedException"/> after a dispose, and what
    /// interrupted the request otherwise (a <see cref="TotalTimeoutException"/>, a <see cref="SessionClosedException"/>,
    /// or the caller's cancellation).
    /// </summary>
    private void ThrowIfGone(CancellationToken cancellationToken)
    {
        if (_context.IsInterrupted)
        {
            throw _context.Translate(new OperationCanceledException(_context.Token), inBody: true, cancellationToken);
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
    }

    private InvalidOperationException AlreadyRead() => Volatile.Read(ref _bodyState) switch
    {
        Buffering => new InvalidOperationException("The response body is being read already; read it once, then use what that read returned."),
        Failed => new InvalidOperationException("An earlier read of the response body failed; the body is gone."),
        _ => new InvalidOperationException(
            "The response body was read as a stream already and is gone. To read it more than once, read it with ReadAsBytesAsync first: the body is then kept."),
    };

    /// <summary>
    /// Reads the whole body as text, decoded with the charset of Content-Type (UTF-8 when none is given, or as a
    /// byte-order mark says), and releases the slot.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    public async Task<string> ReadAsStringAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await BodyAsync(cancellationToken).ConfigureAwait(false);
        return Decode(bytes, ContentHeaders.ContentType?.CharSet);
    }

    /// <summary>
    /// Reads the body as JSON into a <typeparamref name="T"/> (trimming- and AOT-safe), after checking that the
    /// Content-Type is <c>application/json</c> or a <c>+json</c> type; releases the slot.
    /// </summary>
    /// <typeparam name="T">The type to read.</typeparam>
    /// <param name="jsonTypeInfo">The source-generated metadata of <typeparamref name="T"/>.</param>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    /// <exception cref="ContentTypeException">The response is not JSON.</exception>
    /// <exception cref="ClientPayloadException">
    /// The body is not valid JSON for <typeparamref name="T"/>, or larger than
    /// <see cref="ClientSessionOptions.MaxResponseContentBufferSize"/>.
    /// </exception>
    public async Task<T?> ReadFromJsonAsync<T>(JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        var mediaType = ContentHeaders.ContentType?.MediaType;
        if (mediaType is null
            || !(mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ContentTypeException("application/json", ContentHeaders.ContentType?.ToString());
        }

        // The serializer holds a whole token in memory, so one long string would cost several times its size: the
        // body is bounded as ReadAsBytesAsync bounds it, by the declared length first, then by the bytes read.
        var limit = _context.Options.MaxResponseContentBufferSize;
        if (DeclaredLength > limit)
        {
            Dispose();
            throw TooLarge(limit);
        }

        var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var bounded = new BoundedStream(stream, limit);
            var charset = ContentHeaders.ContentType?.CharSet;
            var utf8 = string.IsNullOrEmpty(charset) || charset.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase)
                ? bounded
                : Encoding.CreateTranscodingStream(bounded, GetEncoding(charset), Encoding.UTF8, leaveOpen: true);
            try
            {
                return await JsonSerializer.DeserializeAsync(utf8, jsonTypeInfo, cancellationToken).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                throw new ClientPayloadException($"The response body is not valid JSON for {typeof(T).Name}: {ex.Message}", ex);
            }
            catch (ClientPayloadException)
            {
                Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Reads the body as JSON into a <typeparamref name="T"/> with reflection-based serialization; see
    /// <see cref="ReadFromJsonAsync{T}(JsonTypeInfo{T}, CancellationToken)"/> for the trimming-safe overload.
    /// </summary>
    /// <typeparam name="T">The type to read.</typeparam>
    /// <param name="options">Serializer options; <see cref="JsonSerializerOptions.Web"/> when null.</param>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    [RequiresUnreferencedCode("Reflection-based JSON; use the JsonTypeInfo overload for trimming and AOT.")]
    [RequiresDynamicCode("Reflection-based JSON; use the JsonTypeInfo overload for trimming and AOT.")]
    public Task<T?> ReadFromJsonAsync<T>(JsonSerializerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= JsonSerializerOptions.Web;
        options.MakeReadOnly(populateMissingResolver: true);
        return ReadFromJsonAsync((JsonTypeInfo<T>)options.GetTypeInfo(typeof(T)), cancellationToken);
    }

    /// <summary>
    /// Reads the body chunk by chunk as the server sends it (each chunk is a new array the caller may keep); the end
    /// of the body, or leaving the loop early, releases the slot.
    /// </summary>
    /// <param name="bufferSize">The largest chunk returned.</param>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunksAsync(int bufferSize = 16 * 1024, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferSize);
        var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
            try
            {
                while (true)
                {
                    var read = await stream.ReadAsync(buffer.AsMemory(0, bufferSize), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        yield break;
                    }

                    yield return buffer.AsSpan(0, read).ToArray();
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Reads the body line by line (ended by LF, CRLF or CR), decoded with the charset of Content-Type (UTF-8 by
    /// default); the end of the body, or leaving the loop early, releases the slot.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read (and the request).</param>
    /// <exception cref="ClientPayloadException">
    /// A line is longer than <see cref="ClientSessionOptions.MaxLineLength"/>; the slot is released.
    /// </exception>
    public async IAsyncEnumerable<string> ReadLinesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var encoding = GetEncoding(ContentHeaders.ContentType?.CharSet);
        var maxLength = _context.Options.MaxLineLength;
        var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new LineReader(stream, encoding, maxLength);
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ClientPayloadException)
            {
                Dispose();
                throw;
            }

            if (line is null)
            {
                yield break;
            }

            yield return line;
        }
    }

    /// <summary>Gives the slot back now, closing the connection if the body was not read to its end.</summary>
    public void Release() => Dispose();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        GC.SuppressFinalize(this);

        // The body first (the transport closes a connection whose body was not read to its end), then the slot.
        _message.Dispose();
        _lease?.Release();
        _context.Complete();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    [SuppressMessage("Usage", "CA1816:Dispose methods should call SuppressFinalize", Justification = "The finalizer only reclaims an unreleased slot; once the slot is back it has nothing to do.")]
    void IBodyGuard.OnSlotReleased() => GC.SuppressFinalize(this);

    internal ResponseStatusException CreateStatusException()
        => new(StatusCode, ReasonPhrase, Url, Method, Headers, History);

    private static ClientPayloadException TooLarge(long limit) => BodyLimits.TooLarge(limit);

    /// <summary>The body length the server declared; 0 for a HEAD, 204 or 304 response, whatever its headers declare.</summary>
    private static Encoding GetEncoding(string? charset)
    {
        if (string.IsNullOrEmpty(charset))
        {
            return Encoding.UTF8;
        }

        try
        {
            return Encoding.GetEncoding(charset.Trim('"'));
        }
        catch (ArgumentException ex)
        {
            throw new ClientPayloadException($"The response charset '{charset}' is not supported.", ex);
        }
    }

    internal static string Decode(byte[] bytes, string? charset)
    {
        var encoding = GetEncoding(charset);

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
