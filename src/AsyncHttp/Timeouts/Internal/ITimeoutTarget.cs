namespace AsyncHttp.Internal;

/// <summary>What a <see cref="RequestTimer"/> tells when one of its deadlines passes.</summary>
internal interface ITimeoutTarget
{
    /// <summary>The deadline of <paramref name="kind"/> passed; called on a timer thread, at most once per timer.</summary>
    void OnTimeout(TimeoutKind kind);
}
