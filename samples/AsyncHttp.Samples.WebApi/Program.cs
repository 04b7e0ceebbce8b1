// An ASP.NET Core minimal API that fans out to an upstream through a named session and aggregates the answers.
//
// Run:  dotnet run --project samples/AsyncHttp.Samples.WebApi
// Try:  curl 'http://127.0.0.1:5080/items?ids=1,2,3,4,5'   curl http://127.0.0.1:5080/items/7   curl http://127.0.0.1:5080/sessions
//
// The session "catalog" comes from appsettings.json (AsyncHttp:Sessions:catalog). Without an Upstream setting
// (--Upstream http://host:port/), the app starts the demo upstream on 127.0.0.1 and points the session at it.
//
// Telemetry: the sessions' metrics (meter "AsyncHttp"), the queue-wait spans (source "AsyncHttp") and the request
// spans of System.Net.Http go to OpenTelemetry. --Telemetry:Console true prints them; OTEL_EXPORTER_OTLP_ENDPOINT
// sends them to a collector. See docs/observability.md.
using AsyncHttp.Samples;
using AsyncHttp.Samples.WebApi;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

var builder = WebApplication.CreateBuilder(args);

var configuredUpstream = builder.Configuration["Upstream"];
await using var demo = string.IsNullOrWhiteSpace(configuredUpstream) ? await DemoUpstream.StartAsync() : null;
var upstream = demo?.BaseAddress.AbsoluteUri ?? configuredUpstream!.TrimEnd('/') + "/";

// Added last, so it wins over appsettings.json for this one key.
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    [$"AsyncHttp:Sessions:{ItemsEndpoints.Session}:BaseAddress"] = upstream,
});
builder.Services.AddClientSessions(builder.Configuration.GetSection("AsyncHttp:Sessions"));

// HttpClient code on the same session: a typed client whose requests take the catalog session's slots and queue.
builder.Services.AddHttpClient<CatalogClient>().UseClientSession(ItemsEndpoints.Session);

var console = builder.Configuration.GetValue<bool>("Telemetry:Console");
var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
var telemetry = builder.Services.AddOpenTelemetry()
    .WithMetrics(metrics => metrics.AddMeter("AsyncHttp", "System.Net.Http"))
    .WithTracing(tracing => tracing.AddSource("AsyncHttp", "System.Net.Http"));
if (console)
{
    telemetry.WithMetrics(metrics => metrics.AddConsoleExporter()).WithTracing(tracing => tracing.AddConsoleExporter());
}

if (otlp)
{
    telemetry.WithMetrics(metrics => metrics.AddOtlpExporter()).WithTracing(tracing => tracing.AddOtlpExporter());
}

var app = builder.Build();
app.MapGet("/", () => "GET /items?ids=1,2,3 fans out to the upstream and aggregates; GET /items/7 fetches one through a typed HttpClient on the same session; GET /sessions shows each session's connector.");
app.MapGet("/items", ItemsEndpoints.GetItemsAsync);
app.MapGet("/items/{id:int}", ItemsEndpoints.GetItemAsync);
app.MapGet("/sessions", ItemsEndpoints.GetSessions);

// Stopping the app (Ctrl+C) closes the sessions after the requests in flight have finished.
await app.RunAsync();
