using System.Threading.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>
/// How a session's Redis limit is registered: named options (the session's name) set by the call, bound from
/// <c>AsyncHttp:Sessions:{session}:RateLimits:{kind}</c> when that section exists, configured in code, validated at
/// start; and the limiter made when the session is created.
/// </summary>
internal static class RedisLimitRegistration
{
    public const string SessionsSection = "AsyncHttp:Sessions";

    public static void Add<TOptions>(
        IClientSessionBuilder builder,
        string kind,
        Action<TOptions> set,
        Action<TOptions>? configure,
        Action<IConfiguration, TOptions> bind,
        Func<TOptions, string, TOptions> copyFor,
        Func<IConnectionMultiplexer, TOptions, ILogger, TimeProvider?, RateLimiter> limiter)
        where TOptions : RedisLimitOptions
    {
        var name = builder.Name;
        var section = ConfigurationPath.Combine(SessionsSection, name, "RateLimits", kind);
        builder.Services.AddOptions<TOptions>(name)
            .Configure<IServiceProvider>((options, services) =>
            {
                set(options);
                if (services.GetService<IConfiguration>()?.GetSection(section) is { } bound && bound.Exists())
                {
                    try
                    {
                        bind(bound, options);
                    }
                    catch (InvalidOperationException ex)
                    {
                        throw new OptionsValidationException(name, typeof(TOptions), [$"Session '{name}': {section} could not be bound: {ex.Message}"]);
                    }
                }

                configure?.Invoke(options);
            })
            .Validate<RedisConnections>(
                (options, connections) => !string.IsNullOrWhiteSpace(options.Configuration) || connections.HasRegistered,
                $"Session '{name}': {section}: no Redis to use: register an IConnectionMultiplexer, or set Configuration (a connection string).")
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(new LimitValidator<TOptions>(name, section));
        builder.Services.TryAddSingletonConnections();
        builder.AddLimiter(services => Create(services, name, services.GetRequiredService<IOptionsMonitor<TOptions>>().Get(name), copyFor, limiter));
    }

    /// <summary>
    /// The admission limiter of a session's Redis limit: one <paramref name="limiter"/> on the key of the limit's name (the
    /// session's unless <see cref="RedisLimitOptions.Name"/> says otherwise), or one per host, with the shared
    /// <c>Retry-After</c> pauses when the options ask for them.
    /// </summary>
    private static RedisAdmissionLimiter Create<TOptions>(
        IServiceProvider services,
        string session,
        TOptions options,
        Func<TOptions, string, TOptions> copyFor,
        Func<IConnectionMultiplexer, TOptions, ILogger, TimeProvider?, RateLimiter> limiter)
        where TOptions : RedisLimitOptions
    {
        var logger = LoggerFor(services, session);
        var redis = services.GetRequiredService<RedisConnections>().Get(options.Configuration);
        var time = services.GetService<TimeProvider>();
        var name = options.Name ?? session;
        var pauses = PausesFor(services, options, logger);
        return options.PerHost
            ? new RedisAdmissionLimiter(host => limiter(redis, copyFor(options, $"{name}:{host}"), logger, time), pauses)
            : new RedisAdmissionLimiter(limiter(redis, copyFor(options, name), logger, time), pauses);
    }

    private static ILogger LoggerFor(IServiceProvider services, string session)
        => (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger($"AsyncHttp.Redis.{session}");

    private static RedisHostPauses? PausesFor(IServiceProvider services, RedisLimitOptions options, Microsoft.Extensions.Logging.ILogger logger)
        => options.ShareRetryAfter
            ? new RedisHostPauses(services.GetRequiredService<RedisConnections>().Get(options.Configuration), options.KeyPrefix, options.OperationTimeout, logger)
            : null;

    private static void TryAddSingletonConnections(this IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(RedisConnections))
            {
                return;
            }
        }

        services.AddSingleton<RedisConnections>();
    }

    /// <summary>The options' own checks, each message naming the session and the key.</summary>
    private sealed class LimitValidator<TOptions>(string session, string section) : IValidateOptions<TOptions>
        where TOptions : RedisLimitOptions
    {
        public ValidateOptionsResult Validate(string? name, TOptions options)
        {
            if (!string.Equals(name, session, StringComparison.Ordinal))
            {
                return ValidateOptionsResult.Skip;
            }

            var errors = options.Validate();
            return errors.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(errors.Select(e => $"Session '{session}': {section}:{e}"));
        }
    }
}
