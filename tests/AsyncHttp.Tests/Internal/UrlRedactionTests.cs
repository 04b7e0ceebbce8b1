namespace AsyncHttp.Tests.Internal;

/// <summary>Issue 13, point 10: a URL shown in a message or a log keeps no user info, query or fragment, whatever its scheme.</summary>
public sealed class UrlRedactionTests
{
    [Theory]
    [InlineData("http://user:secret@host/x?token=secret#secret", "http://host:80/x?*")]
    [InlineData("https://secret@host:8443/a/b?token=secret", "https://host:8443/a/b?*")]
    [InlineData("http://host/x#access_token=secret", "http://host:80/x")]
    [InlineData("ftp://user:secret@host/x?token=secret", "ftp:*")]
    [InlineData("mailto:john:secret@example.com?subject=secret", "mailto:*")]
    [InlineData("custom:token=secret", "*")]
    [InlineData("urn:secret:secret", "*")]
    [InlineData("data:text/plain;base64,secret", "*")]
    [InlineData("secret:secret@host/api", "*")]
    public void Redact_AbsoluteUrl_KeepsNoSecret(string url, string expected)
    {
        var redacted = UrlRedaction.Redact(new Uri(url));

        Assert.Equal(expected, redacted);
        Assert.DoesNotContain("secret", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("items?token=secret", "items?*")]
    [InlineData("items#secret", "items")]
    [InlineData("//user:secret@host/x?token=secret", "//host/x?*")]
    [InlineData("/api/items", "/api/items")]
    public void Redact_RelativeUrl_KeepsNoSecret(string url, string expected)
    {
        var redacted = UrlRedaction.Redact(new Uri(url, UriKind.Relative));

        Assert.Equal(expected, redacted);
    }

    [Theory]
    [InlineData("http://user:secret@host:99999/x?token=secret", "http://host:99999/x?*")]
    [InlineData("http://user:secret@[::1/x", "http://[::1/x")]
    [InlineData("ht tp://secret@host?secret", "ht tp://host?*")]
    [InlineData("not a url?secret", "not a url?*")]
    [InlineData("custom:secret", "*")]
    public void Redact_TextThatIsNoUrl_KeepsNoSecret(string text, string expected)
    {
        var redacted = UrlRedaction.Redact(text);

        Assert.Equal(expected, redacted);
    }
}
