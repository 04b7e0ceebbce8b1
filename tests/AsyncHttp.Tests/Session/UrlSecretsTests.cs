using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncHttp.Tests.Session;

/// <summary>
/// Issue 13, point 10: no secret of a URL (user info, query string) in an exception message, a log, a metric or a
/// trace; user info in a request URL becomes Basic authentication, as in aiohttp, and is kept nowhere else.
/// </summary>
public sealed class UrlSecretsTests : IAsyncLifetime
{
    private const string Secret = "s3cr3t";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("http://user:" + Secret + "@127.0.0.1:99999/x?token=" + Secret)]
    [InlineData("items?token=" + Secret)]
    [InlineData("//user:" + Secret + "@127.0.0.1/x?token=" + Secret)]
    [InlineData("ftp://user:" + Secret + "@127.0.0.1/x?token=" + Secret)]
    [InlineData("custom:token=" + Secret)]
    [InlineData("mailto:user:" + Secret + "@example.com")]
    [InlineData("http://us%3Aer:" + Secret + "@127.0.0.1/x")]
    public async Task SendAsync_BadUrlWithSecrets_ThrowsAMessageWithoutThem(string url)
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("secrets", loggerFactory: logs);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync(url));

        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.All(logs.Entries, e => Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal));
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task SendAsync_UserInfoInTheUrl_BecomesBasicAuthorizationAndIsKeptNowhere()
    {
        await using var raw = new FaultServer();
        var logs = new CapturingLoggerProvider();
        var events = new ConcurrentQueue<ClientTraceEvent>();
        var trace = new ClientTrace
        {
            OnRequestStart = events.Enqueue,
            OnRequestEnd = events.Enqueue,
            OnRequestException = events.Enqueue,
            OnRequestRedirect = events.Enqueue,
            OnConnectionQueuedStart = events.Enqueue,
            OnConnectionQueuedEnd = events.Enqueue,
            OnConnectionCreateStart = events.Enqueue,
            OnConnectionCreateEnd = events.Enqueue,
            OnConnectionReuse = events.Enqueue,
        };

        using var observed = new Observed();
        await using var session = new ClientSession("secrets", new ClientSessionOptions { Limit = 1 }, loggerFactory: logs, meterFactory: observed.Meters, traces: [trace]);
        var url = new Uri($"http://us%40er:p%3A{Secret}@127.0.0.1:{raw.BaseAddress.Port}/redirect?token={Secret}");

        // Another request holds the only slot, so this one waits in the queue: its span, log and trace events too.
        var holding = session.GetAsync(_server.Url("hold?id=secrets"));
        await _server.WhenArrivals(1);
        var sending = session.GetAsync(url);
        Assert.Equal(1, session.Connector.Stats.Waiting);
        _server.Open("secrets");
        (await holding).Dispose();
        await using var response = await sending;
        Assert.Equal("ok", await response.ReadAsStringAsync());

        // Both hops (the redirect to /landed is same-origin) carry the credentials as Basic authorization, decoded.
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"us@er:p:{Secret}"));
        Assert.Equal(2, raw.Heads.Count);
        Assert.All(raw.Heads, head => Assert.Contains($"\r\nAuthorization: {basic}\r\n", head, StringComparison.Ordinal));
        Assert.Equal(string.Empty, response.Url.UserInfo);
        Assert.Equal("/ok", response.Url.AbsolutePath);
        var hop = Assert.Single(response.History);
        Assert.Equal(string.Empty, hop.Url.UserInfo);
        Assert.Equal(string.Empty, hop.Location.UserInfo);
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.True(e.Url is null || e.Url.UserInfo.Length == 0, e.Url?.ToString()));
        Assert.All(logs.Entries, e => Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal));
        Assert.Contains(events, e => e.Kind == TraceEventKind.ConnectionQueuedEnd && e.Url?.AbsolutePath == "/redirect");
        Assert.Contains(observed.Tags, t => t == "asynchttp.queue.wait");
        Assert.Contains(observed.Tags, t => t == $"server.port={raw.BaseAddress.Port}");
        Assert.All(observed.Tags, t => Assert.DoesNotContain(Secret, t, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SendAsync_UserInfoAndAStatusError_ThrowsAMessageWithoutSecrets()
    {
        await using var session = new ClientSession(new ClientSessionOptions { RaiseForStatus = true });
        var url = new Uri($"http://user:{Secret}@127.0.0.1:{_server.BaseAddress.Port}/missing?token={Secret}");

        var error = await Assert.ThrowsAsync<ResponseStatusException>(() => session.GetAsync(url));

        Assert.Equal(404, (int)error.StatusCode!);
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.Equal(string.Empty, error.RequestUri.UserInfo);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Fact]
    public async Task SendAsync_RedirectToALocationWithUserInfo_DropsItFromTheUrlAndSendsNoCredentials()
    {
        await using var session = new ClientSession();
        var location = Uri.EscapeDataString($"http://evil:{Secret}@127.0.0.1:{_server.BaseAddress.Port}/headers");

        await using var response = await session.GetAsync(_server.Url($"redirect?to={location}"));
        var headers = await response.ReadAsStringAsync();

        Assert.Equal(string.Empty, response.Url.UserInfo);
        Assert.Equal("/headers", response.Url.AbsolutePath);
        Assert.Equal(string.Empty, Assert.Single(response.History).Location.UserInfo);
        Assert.DoesNotContain("Authorization", headers, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("per-request")]
    [InlineData("message")]
    [InlineData("session")]
    public async Task SendAsync_UserInfoAndAnAuthorizationHeader_IsRejectedBeforeAnythingIsSent(string where)
    {
        var options = new ClientSessionOptions();
        if (where == "session")
        {
            options.Headers["authorization"] = "Bearer other";
        }

        await using var session = new ClientSession(options);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://user:{Secret}@127.0.0.1:{_server.BaseAddress.Port}/ok"));
        if (where == "message")
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer other");
        }

        var perRequest = where == "per-request"
            ? new RequestOptions { Headers = new Dictionary<string, string> { ["AUTHORIZATION"] = "Bearer other" } }
            : null;

        var error = await Assert.ThrowsAsync<ArgumentException>(() => session.SendAsync(request, perRequest));

        Assert.Contains("Authorization", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _server.AcceptedConnections);
        Assert.Equal((0, 0), (session.Connector.Stats.InUse, session.Connector.Stats.Waiting));
    }

    [Theory]
    [InlineData("ftp://user:" + Secret + "@host/?token=" + Secret)]
    [InlineData("http://user:" + Secret + "@host/api?token=" + Secret)]
    public void Validate_BadBaseAddressWithSecrets_NamesItWithoutThem(string baseAddress)
    {
        var options = new ClientSessionOptions { BaseAddress = new Uri(baseAddress) };

        var error = Assert.Single(options.Validate());
        var thrown = Assert.Throws<ArgumentException>(() => new ClientSession(options));

        Assert.StartsWith("BaseAddress", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, thrown.Message, StringComparison.Ordinal);
    }

    /// <summary>Every tag of every AsyncHttp measurement and activity while it lives (of concurrent tests too: none uses the secret).</summary>
    private sealed class Observed : IDisposable
    {
        private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        private readonly MeterListener _meters = new();
        private readonly ActivityListener _activities;
        private readonly ConcurrentQueue<string> _tags = new();

        public Observed()
        {
            _meters.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "AsyncHttp")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _meters.SetMeasurementEventCallback<long>((_, _, tags, _) => Record(tags));
            _meters.SetMeasurementEventCallback<double>((_, _, tags, _) => Record(tags));
            _meters.SetMeasurementEventCallback<int>((_, _, tags, _) => Record(tags));
            _meters.Start();
            _activities = new ActivityListener
            {
                // Only the library's own spans: listening to System.Net.Http would make it add traceparent headers to
                // the requests of the tests that run at the same time.
                ShouldListenTo = source => source.Name == "AsyncHttp",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = a =>
                {
                    foreach (var tag in a.TagObjects)
                    {
                        _tags.Enqueue($"{tag.Key}={tag.Value}");
                    }

                    _tags.Enqueue(a.DisplayName);
                },
            };
            ActivitySource.AddActivityListener(_activities);
        }

        public IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

        public IReadOnlyCollection<string> Tags => [.. _tags];

        public void Dispose()
        {
            _meters.Dispose();
            _activities.Dispose();
            _services.Dispose();
        }

        private void Record(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                _tags.Enqueue($"{tag.Key}={tag.Value}");
            }
        }
    }
}
