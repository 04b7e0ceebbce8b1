using AsyncHttp.Benchmarks.Load;
using BenchmarkDotNet.Running;

// `load ...` runs one client through one workload of the side-by-side comparison (see run-load.sh);
// anything else goes to BenchmarkDotNet (`--filter *`, `--job short`, ...).
if (args.Length > 0 && args[0] == "load")
{
    return await LoadCommand.RunAsync(args[1..]);
}

// `queued ...` measures the memory one request waiting in the client's queue holds (see QueuedCommand).
if (args.Length > 0 && args[0] == "queued")
{
    return await QueuedCommand.RunAsync(args[1..]);
}

// `profile ...` samples what one client allocates per request (see ProfileCommand).
if (args.Length > 0 && args[0] == "profile")
{
    return await ProfileCommand.RunAsync(args[1..]);
}

// `oneshot ...` compares a one-shot call (AsyncHttpClient) with a GET on a kept-alive session (see OneShotCommand).
if (args.Length > 0 && args[0] == "oneshot")
{
    return await OneShotCommand.RunAsync(args[1..]);
}

// `ratelimit ...` measures the rate a local TokenBucketRateLimiter in admission reaches (see RateLimitCommand).
if (args.Length > 0 && args[0] == "ratelimit")
{
    return await RateLimitCommand.RunAsync(args[1..]);
}

// `interleaved ...` compares clients' CPU per request in alternating rounds within one process (see InterleavedCommand).
if (args.Length > 0 && args[0] == "interleaved")
{
    return await InterleavedCommand.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(LoadCommand).Assembly).Run(args);
return 0;
