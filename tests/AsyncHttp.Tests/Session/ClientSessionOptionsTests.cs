using System.Net.Security;
using System.Reflection;
using AsyncHttp.Internal;

namespace AsyncHttp.Tests.Session;

/// <summary>
/// <see cref="ClientSessionOptions.Clone"/> copies every setting, whatever settings are added later, and a change of
/// any transport setting is seen as one: both are checked by reflection over the public properties.
/// </summary>
public sealed class ClientSessionOptionsTests
{
    private static readonly PropertyInfo[] Settings = typeof(ClientSessionOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);

    [Fact]
    public void Clone_EverySettingChanged_CopiesEachOne_AndCopiesWhatIsMutable()
    {
        var options = new ClientSessionOptions();
        foreach (var setting in Settings)
        {
            setting.SetValue(options, Different(setting, setting.GetValue(options)));
        }

        var copy = options.Clone();

        foreach (var setting in Settings)
        {
            var expected = setting.GetValue(options);
            var actual = setting.GetValue(copy);
            if (expected is ClientTimeout timeout)
            {
                Assert.NotSame(timeout, actual);
                Assert.Equivalent(timeout, actual, strict: true);
            }
            else if (expected is IDictionary<string, string> headers)
            {
                Assert.NotSame(headers, actual);
                Assert.Equal(headers, (IDictionary<string, string>)actual!);
            }
            else
            {
                Assert.Equal(expected, actual);
            }
        }
    }

    [Fact]
    public void Clone_CopiesTheHeadersCaseInsensitively()
    {
        var options = new ClientSessionOptions();
        options.Headers["X-One"] = "1";

        var copy = options.Clone();
        copy.Headers["x-one"] = "2";

        Assert.Single(copy.Headers);
        Assert.Equal("1", options.Headers["X-One"]);
    }

    [Fact]
    public void TransportSettings_EachOneChanged_IsSeenAsAChange_OtherSettingsAreNot()
    {
        var transport = typeof(TransportSettings).GetProperties().Select(p => p.Name).ToHashSet();
        var baseline = TransportSettings.From(new ClientSessionOptions().ToConnectorOptions());
        foreach (var setting in Settings)
        {
            var options = new ClientSessionOptions();
            setting.SetValue(options, Different(setting, setting.GetValue(options)));
            var changed = TransportSettings.From(options.ToConnectorOptions()) != baseline;

            // The limits shape the transport too (its connections per server); the timeouts by SockConnect.
            var shapesTransport = transport.Contains(setting.Name) || setting.Name is nameof(ClientSessionOptions.Limit)
                or nameof(ClientSessionOptions.LimitPerHost) or nameof(ClientSessionOptions.Timeout);
            Assert.True(shapesTransport == changed, $"{setting.Name}: shapes the transport {shapesTransport}, seen as a change {changed}");
        }
    }

    [Fact]
    public void ConnectionSettings_EveryOneOfTheConnector_IsASessionSettingThatASharedSessionMustNotSet()
    {
        // What shapes a connection is the connector's: every such setting exists on the session too (for a session that
        // owns its connector), goes to its connector, and is an error on a session that shares one.
        var limits = new[] { nameof(ConnectorOptions.Limit), nameof(ConnectorOptions.LimitPerHost), nameof(ConnectorOptions.QueueLimit) };
        var connection = typeof(ConnectorOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => !limits.Contains(p.Name)).ToList();
        Assert.NotEmpty(connection);
        foreach (var setting in connection)
        {
            var session = Settings.Single(p => p.Name == setting.Name);
            var options = new ClientSessionOptions();
            Assert.Empty(options.Validate("upstream"));
            var value = Different(session, session.GetValue(options));
            session.SetValue(options, value);

            Assert.Equal(value, setting.GetValue(options.ToConnectorOptions()));
            var error = Assert.Single(options.Validate("upstream"));
            Assert.StartsWith($"{setting.Name} shapes connections", error, StringComparison.Ordinal);
            Assert.Empty(options.Validate(sharedConnector: null));
        }

        // Only those: any other setting is the session's own on a shared connector too.
        foreach (var setting in Settings.Where(p => connection.All(c => c.Name != p.Name) && p.Name != nameof(ClientSessionOptions.Connector)))
        {
            var options = new ClientSessionOptions();
            setting.SetValue(options, Different(setting, setting.GetValue(options)));
            Assert.DoesNotContain(options.Validate("upstream"), e => e.Contains("shapes connections", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void ConnectorOptions_CloneAndValidate_CopyEverySettingAndNameEachBadOne()
    {
        var options = new ConnectorOptions();
        foreach (var setting in typeof(ConnectorOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            setting.SetValue(options, Different(setting, setting.GetValue(options)));
        }

        var copy = options.Clone();

        Assert.Equivalent(options, copy, strict: true);
        Assert.Empty(copy.Validate());
        var bad = new ConnectorOptions { Limit = -1, LimitPerHost = -1, QueueLimit = -1, KeepAliveTimeout = TimeSpan.FromSeconds(-1), DnsCacheTtl = TimeSpan.FromSeconds(-1), MaxResponseHeadersLength = 0 };
        Assert.Equal(
            ["Limit", "LimitPerHost", "QueueLimit", "KeepAliveTimeout", "DnsCacheTtl", "MaxResponseHeadersLength"],
            bad.Validate().Select(e => e[..e.IndexOf(' ', StringComparison.Ordinal)]));
    }

    [Fact]
    public void ToCaps_OnASharedConnector_AnUnsetLimitIsNoCapOfTheSessionsOwn()
    {
        Assert.Equal(new SessionCaps(0, 0, 0, 0), new ClientSessionOptions().ToCaps(shared: true));
        Assert.Equal(new SessionCaps(100, 0, 0, 0), new ClientSessionOptions().ToCaps(shared: false));
        Assert.Equal(new SessionCaps(100, 2, 3, 4), new ClientSessionOptions { Limit = 100, LimitPerHost = 2, QueueLimit = 3, Priority = 4 }.ToCaps(shared: true));
        Assert.Equal(new SessionCaps(7, 0, 0, 0), new ClientSessionOptions { Limit = 7 }.Clone().ToCaps(shared: true));
    }

    /// <summary>A value of the setting's type that differs from <paramref name="current"/> (and from the default).</summary>
    private static object? Different(PropertyInfo setting, object? current) => current switch
    {
        int i => i + 7,
        long l => l + 7,
        bool b => !b,
        TimeSpan t => t + TimeSpan.FromSeconds(7),
        Version v => v == System.Net.HttpVersion.Version20 ? System.Net.HttpVersion.Version11 : System.Net.HttpVersion.Version20,
        HttpVersionPolicy p => p == HttpVersionPolicy.RequestVersionExact ? HttpVersionPolicy.RequestVersionOrLower : HttpVersionPolicy.RequestVersionExact,
        ClientTimeout => new ClientTimeout { Total = TimeSpan.FromSeconds(7), Connect = TimeSpan.FromSeconds(8), SockConnect = TimeSpan.FromSeconds(9), SockRead = TimeSpan.FromSeconds(10) },
        IDictionary<string, string> => new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["X-Seven"] = "7" },
        null when setting.PropertyType == typeof(Uri) => new Uri("http://example.test/base/"),
        null when setting.PropertyType == typeof(string) => "upstream",
        null when setting.PropertyType == typeof(RemoteCertificateValidationCallback) => new RemoteCertificateValidationCallback(static (_, _, _, errors) => errors == SslPolicyErrors.None),
        null when setting.PropertyType == typeof(Func<ClientTransportContext, HttpMessageHandler>) => new Func<ClientTransportContext, HttpMessageHandler>(static _ => new HttpClientHandler()),
        _ => throw new InvalidOperationException($"No different value for {setting.Name} ({setting.PropertyType}): add one here."),
    };
}
