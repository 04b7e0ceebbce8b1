using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncHttp.Tests.Reliability;

/// <summary>What a session does before anyone configures it: validate TLS, refuse header injection, redact logs.</summary>
public sealed class SafeDefaultsTests : IAsyncLifetime
{
    private X509Certificate2 _certificate = null!;
    private WebApplication _https = null!;
    private Uri _httpsUrl = null!;
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _certificate = CreateSelfSigned();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.UseHttps(_certificate)));
        _https = builder.Build();
        _https.MapGet("/", () => "secure");
        await _https.StartAsync();
        var address = _https.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _httpsUrl = new Uri(address.TrimEnd('/') + "/");
        _server = await TestServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _https.DisposeAsync();
        await _server.DisposeAsync();
        _certificate.Dispose();
    }

    internal static X509Certificate2 CreateSelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=asynchttp-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    [Fact]
    public async Task Tls_SelfSignedServer_FailsByDefault()
    {
        await using var session = new ClientSession();

        var error = await Assert.ThrowsAsync<ClientConnectorException>(() => session.GetAsync(_httpsUrl));

        Assert.Equal(HttpRequestError.SecureConnectionError, error.HttpRequestError);
        Assert.Equal(0, session.Connector.Stats.InUse);
    }

    [Fact]
    public async Task Tls_ExplicitOptOut_Works()
    {
        await using var session = new ClientSession(new ClientSessionOptions { DangerousAcceptAnyServerCertificate = true });

        await using var response = await session.GetAsync(_httpsUrl);

        Assert.Equal("secure", await response.ReadAsStringAsync());
    }

    [Fact]
    public async Task Tls_CustomValidation_PinningTheCertificate_WorksAndRejectsOthers()
    {
        var pinned = _certificate.GetCertHashString();
        await using var pinning = new ClientSession(new ClientSessionOptions
        {
            ServerCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == pinned,
        });
        await using var wrongPin = new ClientSession(new ClientSessionOptions
        {
            ServerCertificateValidationCallback = (_, _, _, _) => false,
        });

        await using (var response = await pinning.GetAsync(_httpsUrl))
        {
            Assert.Equal("secure", await response.ReadAsStringAsync());
        }

        await Assert.ThrowsAsync<ClientConnectorException>(() => wrongPin.GetAsync(_httpsUrl));
    }

    [Theory]
    [InlineData("X-Evil", "value\r\nX-Injected: 1")]
    [InlineData("X-Evil", "value\nX-Injected: 1")]
    [InlineData("X-Evil", "value\0")]
    [InlineData("X-Evil\r\nX-Injected", "1")]
    [InlineData("Bad Name", "1")]
    [InlineData("Bad:Name", "1")]
    public async Task Headers_WithCrLfOrBadNames_AreRejectedBeforeAnythingIsSent(string name, string value)
    {
        await using var session = new ClientSession();
        var before = _server.AcceptedConnections;

        await Assert.ThrowsAsync<ArgumentException>(() => session.GetAsync(
            _server.Url("headers"), new RequestOptions { Headers = new Dictionary<string, string> { [name] = value } }));

        var defaults = new ClientSessionOptions();
        defaults.Headers[name] = value;
        var error = Assert.Throws<ArgumentException>(() => new ClientSession(defaults));
        Assert.Contains("Headers:", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, _server.AcceptedConnections);
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task Logs_OfAFailedRequest_RedactTheQueryStringAndNeverHoldHeaderValues()
    {
        var logs = new CapturingLoggerProvider();
        await using var session = new ClientSession("redacting", loggerFactory: logs);

        await Assert.ThrowsAsync<ServerDisconnectedException>(() => session.GetAsync(
            _server.Url("reset?api_key=query-secret"),
            new RequestOptions { Headers = new Dictionary<string, string> { ["Authorization"] = "Bearer header-secret" } }));

        var started = Assert.Single(logs.Entries, e => e.EventId.Id == 1004);
        var failed = Assert.Single(logs.Entries, e => e.EventId.Id == 1001);
        Assert.Contains("/reset?*", started.Message, StringComparison.Ordinal);
        Assert.Contains("/reset?*", failed.Message, StringComparison.Ordinal);
        Assert.All(logs.Entries, e =>
        {
            Assert.DoesNotContain("query-secret", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("header-secret", e.Message, StringComparison.Ordinal);
        });
    }
}
