using AsyncHttp;

// The design card's class, as a user writes it: one using for everything AsyncHttp.
public sealed class Crawler(ISessionRegistry sessions)
{
    public async Task<string> FetchAsync(string url, CancellationToken ct)
    {
        await using var response = await sessions.GetSession("bulk").GetAsync(url, cancellationToken: ct);
        response.EnsureSuccessStatusCode();
        return await response.ReadAsStringAsync(ct);      // body is read here, not in GetAsync
    }
}
