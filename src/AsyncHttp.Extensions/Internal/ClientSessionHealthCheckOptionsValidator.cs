using System.Globalization;
using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>Validates each session's health check thresholds; each message names the session and the setting.</summary>
internal sealed class ClientSessionHealthCheckOptionsValidator : IValidateOptions<ClientSessionHealthCheckOptions>
{
    public ValidateOptionsResult Validate(string? name, ClientSessionHealthCheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string>? errors = null;
        if (!(options.DegradedQueueRatio > 0 && options.DegradedQueueRatio <= 1))
        {
            Add($"DegradedQueueRatio must be above 0 and at most 1 (a share of QueueLimit); it is {options.DegradedQueueRatio.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (options.DegradedQueueWait is { } wait && wait <= TimeSpan.Zero)
        {
            Add($"DegradedQueueWait must be above 0, or null to never degrade for waits; it is {wait}.");
        }

        if (!Enum.IsDefined(options.FailureStatus))
        {
            Add($"FailureStatus must be Unhealthy, Degraded or Healthy; it is {options.FailureStatus}.");
        }

        if (options.Tags is null || options.Tags.Any(string.IsNullOrWhiteSpace))
        {
            Add("Tags must be a list of non-empty tags.");
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);

        void Add(string error) => (errors ??= []).Add($"Health check of session '{name}': {error}");
    }
}
