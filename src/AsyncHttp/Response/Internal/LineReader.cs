using System.Buffers;
using System.Text;

namespace AsyncHttp.Internal;

/// <summary>
/// Reads the decoded lines of a body, each ended by LF, CRLF or CR as <see cref="StreamReader.ReadLineAsync()"/> ends
/// them, and fails on a line longer than a bound. <see cref="StreamReader"/> grows a line without limit, so one line
/// without end would take all memory; here a line costs at most the bound, in one pooled buffer.
/// </summary>
internal sealed class LineReader : IDisposable
{
    private const int ChunkSize = 4096;

    private readonly StreamReader _reader;
    private readonly int _maxLength;
    private char[] _chunk;
    private int _start;
    private int _end;

    // The beginning of a line that runs past the end of the chunk; never longer than the bound.
    private char[] _partial = [];
    private int _partialLength;

    // The last line ended with CR: an LF right after it belongs to that line end.
    private bool _skipLf;

    /// <param name="stream">The body; disposed with this reader.</param>
    /// <param name="encoding">The charset of the body, unless a byte-order mark says otherwise.</param>
    /// <param name="maxLength">The longest line, in characters, line ending excluded.</param>
    public LineReader(Stream stream, Encoding encoding, int maxLength)
    {
        _reader = new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true, ChunkSize);
        _maxLength = maxLength;
        _chunk = ArrayPool<char>.Shared.Rent(ChunkSize);
    }

    /// <summary>Reads the next line; null at the end of the body.</summary>
    /// <exception cref="ClientPayloadException">The line is longer than the bound.</exception>
    public async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_start < _end)
            {
                var available = _chunk.AsSpan(_start, _end - _start);
                if (_skipLf)
                {
                    _skipLf = false;
                    if (available[0] == '\n')
                    {
                        _start++;
                        continue;
                    }
                }

                var lineEnd = available.IndexOfAny('\r', '\n');
                if (lineEnd >= 0)
                {
                    var line = Complete(available[..lineEnd]);
                    _skipLf = available[lineEnd] == '\r';
                    _start += lineEnd + 1;
                    return line;
                }

                Append(available);
            }

            _start = 0;
            _end = await _reader.ReadAsync(_chunk.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false);
            if (_end == 0)
            {
                // The last line may end with the body instead of a line ending.
                return _partialLength > 0 ? Complete([]) : null;
            }
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        if (_chunk.Length > 0)
        {
            ArrayPool<char>.Shared.Return(_chunk);
            _chunk = [];
            _start = _end = 0;
        }

        ReturnPartial();
    }

    private string Complete(ReadOnlySpan<char> last)
    {
        EnsureFits(last.Length);
        if (_partialLength == 0)
        {
            return new string(last);
        }

        var line = string.Concat(_partial.AsSpan(0, _partialLength), last);
        _partialLength = 0;
        return line;
    }

    private void Append(ReadOnlySpan<char> part)
    {
        EnsureFits(part.Length);
        var needed = _partialLength + part.Length;
        if (needed > _partial.Length)
        {
            // Doubling, but never past the bound: a line at the bound fits, a longer one fails before it is stored.
            var larger = ArrayPool<char>.Shared.Rent((int)Math.Min(Math.Max(needed, 2L * _partial.Length), _maxLength));
            _partial.AsSpan(0, _partialLength).CopyTo(larger);
            ReturnPartial();
            _partial = larger;
        }

        part.CopyTo(_partial.AsSpan(_partialLength));
        _partialLength = needed;
    }

    private void EnsureFits(int more)
    {
        if ((long)_partialLength + more > _maxLength)
        {
            throw BodyLimits.LineTooLong(_maxLength);
        }
    }

    private void ReturnPartial()
    {
        if (_partial.Length > 0)
        {
            ArrayPool<char>.Shared.Return(_partial);
        }

        _partial = [];
    }
}
