namespace AsyncHttp.Internal;

/// <summary>
/// What caps one session inside its connector's pool: its own total and per-host limits and queue bound (0 means none),
/// and its priority among the sessions of the connector.
/// </summary>
internal readonly record struct SessionCaps(int Limit, int LimitPerHost, int QueueLimit, int Priority);
