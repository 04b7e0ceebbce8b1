using AsyncHttp;

// The design card's registrations; the upstream's address comes from the command line
// (--AsyncHttp:Sessions:bulk:BaseAddress=...), everything else about "bulk" from appsettings.json.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddClientSession("priority", o => o.Limit = 0);            // never queues
builder.Services.AddClientSession("bulk").BindConfiguration("AsyncHttp:Sessions:bulk");
builder.Services.AddSingleton<Crawler>();
if (builder.Configuration.GetValue<bool>("UseTestUpstream"))
{
    FakeUpstream.Use(builder.Services);
}

using var host = builder.Build();
await host.StartAsync();

var sessions = host.Services.GetRequiredService<ISessionRegistry>();
var crawler = host.Services.GetRequiredService<Crawler>();
var count = builder.Configuration.GetValue<int>("Count");

var bodies = await Task.WhenAll(Enumerable.Range(1, count).Select(i => crawler.FetchAsync($"item/{i}", CancellationToken.None)));
foreach (var body in bodies)
{
    Console.WriteLine($"body: {body}");
}

var upstream = sessions.GetSession("bulk").BaseAddress!;
await using (var health = await sessions.GetSession("priority").GetAsync(new Uri(upstream, "health")))
{
    health.EnsureSuccessStatusCode();
    Console.WriteLine($"priority: {health.Status} {await health.ReadAsStringAsync()}");
}

foreach (var name in sessions.Names)
{
    var stats = sessions.GetSession(name).Connector.Stats;
    Console.WriteLine($"session {name}: Limit={stats.Limit} QueueLimit={stats.QueueLimit} InUse={stats.InUse} Waiting={stats.Waiting}");
}

await host.StopAsync();
Console.WriteLine("done");
