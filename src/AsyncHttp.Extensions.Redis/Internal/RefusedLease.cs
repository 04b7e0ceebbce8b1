using System.Threading.RateLimiting;

namespace AsyncHttp.Extensions.Redis.Internal;

/// <summary>A permit not granted, with the reason (<see cref="MetadataName.ReasonPhrase"/>) admission puts in its exception.</summary>
internal sealed class RefusedLease(string? reason) : RateLimitLease
{
    /// <summary>Not granted, without a reason: a non-waiting acquire that would need a round trip to Redis.</summary>
    public static readonly RefusedLease WithoutAsking = new(null);

    public override bool IsAcquired => false;

    public override IEnumerable<string> MetadataNames => reason is null ? [] : [MetadataName.ReasonPhrase.Name];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (reason is not null && metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = reason;
            return true;
        }

        metadata = null;
        return false;
    }
}
