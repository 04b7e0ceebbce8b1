// aiohttp's hello world, with the core alone (no DI, no host):
//
//     async with aiohttp.ClientSession() as session:
//         async with session.get(url) as response:
//             print("Status:", response.status)
//             print("Content-type:", response.headers["content-type"])
//             html = await response.text()
//
// Run: dotnet run --project samples/AsyncHttp.Samples.Console [-- --upstream http://host:port/]
// Without --upstream it starts its own demo server on 127.0.0.1, so it works offline.
using AsyncHttp;
using AsyncHttp.Samples;

var upstreamArg = args.Length == 2 && args[0] == "--upstream" ? args[1] : null;
if (args.Length > 0 && upstreamArg is null)
{
    Console.Error.WriteLine("usage: AsyncHttp.Samples.Console [--upstream http://host:port/]");
    return 2;
}

await using var demo = upstreamArg is null ? await DemoUpstream.StartAsync() : null;
var upstream = demo?.BaseAddress ?? new Uri(upstreamArg!.TrimEnd('/') + "/");

// One session for the whole program: it owns the connection pool, so create it once and reuse it.
// `await using` closes it at the end: connections closed, nothing left behind.
await using var session = new ClientSession(new ClientSessionOptions
{
    BaseAddress = upstream,
    Limit = 8,
    Headers = { ["User-Agent"] = "asynchttp-console-sample/1.0" },
});

await using (var response = await session.GetAsync("health"))
{
    // GetAsync returns once the headers are in; the body is still on the connection.
    Console.WriteLine($"Status: {response.Status}");
    Console.WriteLine($"Content-type: {response.ContentHeaders.ContentType}");
    var text = await response.ReadAsStringAsync();
    Console.WriteLine($"Body: {text}");
}

// The same session for many requests: 50 at once, at most Limit (8) in flight, the rest wait in its queue.
var sizes = await Task.WhenAll(Enumerable.Range(1, 50).Select(async id =>
{
    await using var response = await session.GetAsync($"item/{id}");
    response.EnsureSuccessStatusCode();
    return (await response.ReadAsBytesAsync()).Length;
}));

var stats = session.Connector.Stats;
Console.WriteLine($"{sizes.Length} responses, {sizes.Sum()} bytes, over {stats.OpenConnections} connections (Limit {stats.Limit}).");
return 0;
