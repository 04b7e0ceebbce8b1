using AsyncHttp;
using AsyncHttp.Testing;

// The test kit from its package: the same app, its sessions answered by a fake upstream instead of the network.
internal static class FakeUpstream
{
    public static void Use(IServiceCollection services)
    {
        var upstream = new TestUpstream();
        upstream.Map(r => r.Url.AbsolutePath.StartsWith("/item/", StringComparison.Ordinal))
            .Respond(r => TestResponse.Text($"fake:{r.Url.Segments[^1]}"));
        upstream.Map(HttpMethod.Get, "/health").Respond(TestResponse.Text("ok"));
        services.ConfigureClientSessionDefaults(o => o.UseTestUpstream(upstream));
    }
}
