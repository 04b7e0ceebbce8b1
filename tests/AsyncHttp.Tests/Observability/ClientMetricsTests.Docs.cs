using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using AsyncHttp.Tests.Infrastructure;

namespace AsyncHttp.Tests.Observability;

/// <summary>
/// docs/observability.md against the code: the instruments' table (names, types, units, tags) and the histograms'
/// bucket boundaries are what a <see cref="MeterListener"/> sees while a session runs every kind of request.
/// </summary>
public sealed partial class ClientMetricsTests
{
    [Fact]
    public async Task InstrumentsTable_MatchesWhatTheMeterReports()
    {
        var documented = Table(Doc(), "| instrument | type | unit | tags | what it measures |")
            .ToDictionary(row => Code(row[0]).Single(), row => (Type: row[1], Unit: Code(row[2]).Single(), Tags: TagNames(row[3])));
        var seen = new ConcurrentDictionary<string, (Instrument Instrument, ConcurrentDictionary<string, byte> Tags)>();
        using var listener = Listen(seen);

        await RunEveryKindOfRequestAsync(listener);

        Assert.Equal(documented.Keys.Order(), seen.Keys.Order());
        foreach (var (name, doc) in documented)
        {
            var (instrument, tags) = seen[name];
            Assert.True(doc.Type == TypeName(instrument), $"{name}: documented as {doc.Type}, is {TypeName(instrument)}");
            Assert.True(doc.Unit == instrument.Unit, $"{name}: documented in {doc.Unit}, is in {instrument.Unit}");
            Assert.True(doc.Tags.SetEquals(tags.Keys), $"{name}: documented tags {string.Join(", ", doc.Tags.Order())}; seen {string.Join(", ", tags.Keys.Order())}");
        }
    }

    [Fact]
    public void BucketTable_MatchesTheHistogramsAdvice()
    {
        var documented = Table(Doc(), "| histogram | boundaries | why |")
            .ToDictionary(row => Code(row[0]).Single(), row => row[1].Split(',').Select(b => double.Parse(b, CultureInfo.InvariantCulture)).ToList());
        var seen = new ConcurrentDictionary<string, (Instrument Instrument, ConcurrentDictionary<string, byte> Tags)>();
        using var listener = Listen(seen);
        using var session = new ClientSession("buckets", meterFactory: Meters);

        var histograms = seen.Values.Select(s => s.Instrument).OfType<Histogram<double>>().ToDictionary(h => h.Name);
        Assert.Equal(documented.Keys.Order(), histograms.Keys.Order());
        foreach (var (name, boundaries) in documented)
        {
            Assert.Equal(boundaries, histograms[name].Advice!.HistogramBucketBoundaries!);
        }
    }

    /// <summary>
    /// Requests that make every instrument report every tag it has: queued, answered 200 and 404, refused by a closed
    /// port, rejected by a full queue, timed out in the queue; the gauges are read while requests are held.
    /// </summary>
    private async Task RunEveryKindOfRequestAsync(MeterListener listener)
    {
        var time = new SignalingTimeProvider();
        var options = new ClientSessionOptions { Limit = 1, QueueLimit = 1, Timeout = { Total = null, Connect = TimeSpan.FromSeconds(5) } };
        await using var session = new ClientSession("docs", options, time, meterFactory: Meters);

        listener.RecordObservableInstruments(); // no host yet: one 0 per gauge, tagged with the session only
        var held = session.GetAsync(_server.Url("hold?id=d0"));
        await _server.WhenArrived("d0");
        var queued = session.GetAsync(_server.Url("hold?id=d1"));
        await Assert.ThrowsAsync<QueueFullException>(() => session.GetAsync(_server.Url("ok")));
        listener.RecordObservableInstruments();

        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<ConnectTimeoutException>(() => queued);
        _server.Open("d0");
        (await held).Dispose();

        var waiting = session.GetAsync(_server.Url("missing"));
        (await waiting).Dispose();
        await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync($"http://127.0.0.1:{LoopbackSockets.ClosedPort()}/"));

        // One request that waited and got its slot, for the queue's histogram.
        var first = session.GetAsync(_server.Url("hold?id=d2"));
        await _server.WhenArrived("d2");
        var second = session.GetAsync(_server.Url("ok"));
        _server.Open("d2");
        (await first).Dispose();
        (await second).Dispose();

        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));

        // A request a limiter of admission refuses, for the permit rejections.
        using var bucket = new System.Threading.RateLimiting.TokenBucketRateLimiter(new()
        {
            TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromHours(1), QueueLimit = 0, AutoReplenishment = false,
        });
        await using var limited = new ClientSession("docs-limited", new ClientSessionOptions { Limiters = { AdmissionLimiter.Create(bucket) } }, meterFactory: Meters);
        (await limited.GetAsync(_server.Url("ok"))).Dispose();
        await Assert.ThrowsAsync<RateLimitRejectedException>(() => limited.GetAsync(_server.Url("ok")));
    }

    private MeterListener Listen(ConcurrentDictionary<string, (Instrument Instrument, ConcurrentDictionary<string, byte> Tags)> seen)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == Meters && instrument.Meter.Name == "AsyncHttp")
                {
                    seen.TryAdd(instrument.Name, (instrument, new ConcurrentDictionary<string, byte>()));
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) => Record(seen, instrument, tags));
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Record(seen, instrument, tags));
        listener.Start();
        return listener;
    }

    private static void Record(ConcurrentDictionary<string, (Instrument Instrument, ConcurrentDictionary<string, byte> Tags)> seen, Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            seen[instrument.Name].Tags.TryAdd(tag.Key, 0);
        }
    }

    private static string TypeName(Instrument instrument) => instrument switch
    {
        ObservableUpDownCounter<long> => "observable up-down counter",
        Histogram<double> => "histogram",
        Counter<long> => "counter",
        _ => instrument.GetType().Name,
    };

    /// <summary>The tag names of a cell: the code spans outside parentheses (inside them are values and conditions).</summary>
    private static HashSet<string> TagNames(string cell) => [.. Code(Parenthesized().Replace(cell, ""))];

    private static IEnumerable<string> Code(string cell) => CodeSpan().Matches(cell).Select(m => m.Groups[1].Value);

    /// <summary>The rows of the markdown table that starts with <paramref name="header"/>, split into cells.</summary>
    private static List<string[]> Table(string[] lines, string header)
    {
        var start = Array.IndexOf(lines, header);
        Assert.True(start >= 0, $"docs/observability.md has no table '{header}'");
        var rows = lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|')).Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        Assert.NotEmpty(rows);
        return rows;
    }

    private static string[] Doc()
    {
        // The test runs from tests/AsyncHttp.Tests/bin/<configuration>/<framework>/: the repository is a few levels up.
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        for (var i = 0; i < 8 && directory is not null; i++, directory = directory.Parent)
        {
            var path = Path.Combine(directory.FullName, "docs", "observability.md");
            if (File.Exists(path))
            {
                return File.ReadAllLines(path);
            }
        }

        throw new FileNotFoundException("docs/observability.md not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\([^)]*\)")]
    private static partial Regex Parenthesized();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();
}
