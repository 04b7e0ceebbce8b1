namespace AsyncHttp.Tests.Admission;

/// <summary>
/// The bounds of the connector's time settings, at the bound exactly: zero is accepted (a negative time is not), and the
/// longest a timer can wait (<c>int.MaxValue</c> ms) is accepted where there is an upper bound (a tick more is not). The
/// same rules apply to a connector's options and to those of a session that owns its connector.
/// </summary>
public sealed class ConnectorOptionsTests
{
    private const long Tick = 1;
    private const long MaxTimerTicks = int.MaxValue * TimeSpan.TicksPerMillisecond;

    [Theory]
    [InlineData(0L, true)]
    [InlineData(-Tick, false)]
    public void Validate_KeepAliveTimeoutAtItsBound_AcceptsZeroAndNothingLess(long ticks, bool valid)
    {
        var value = TimeSpan.FromTicks(ticks);

        AssertValidation("KeepAliveTimeout", valid, new ConnectorOptions { KeepAliveTimeout = value }, new ClientSessionOptions { KeepAliveTimeout = value });
    }

    [Theory]
    [InlineData(0L, true)]
    [InlineData(-Tick, false)]
    public void Validate_DnsCacheTtlAtItsBound_AcceptsZeroAndNothingLess(long ticks, bool valid)
    {
        var value = TimeSpan.FromTicks(ticks);

        AssertValidation("DnsCacheTtl", valid, new ConnectorOptions { DnsCacheTtl = value }, new ClientSessionOptions { DnsCacheTtl = value });
    }

    [Theory]
    [InlineData(0L, true)]
    [InlineData(-Tick, false)]
    [InlineData(MaxTimerTicks, true)]
    [InlineData(MaxTimerTicks + Tick, false)]
    public void Validate_ExpectContinueTimeoutAtItsBounds_AcceptsZeroAndTheLongestTimerAndNothingBeyond(long ticks, bool valid)
    {
        var value = TimeSpan.FromTicks(ticks);

        AssertValidation("ExpectContinueTimeout", valid, new ConnectorOptions { ExpectContinueTimeout = value }, new ClientSessionOptions { ExpectContinueTimeout = value });
    }

    [Theory]
    [InlineData(0L, true)]
    [InlineData(-Tick, false)]
    [InlineData(MaxTimerTicks, true)]
    [InlineData(MaxTimerTicks + Tick, false)]
    public void Validate_HappyEyeballsDelayAtItsBounds_AcceptsZeroAndTheLongestTimerAndNothingBeyond(long ticks, bool valid)
    {
        var value = TimeSpan.FromTicks(ticks);

        AssertValidation("HappyEyeballsDelay", valid, new ConnectorOptions { HappyEyeballsDelay = value }, new ClientSessionOptions { HappyEyeballsDelay = value });
    }

    /// <summary>Both forms of the settings: no error when <paramref name="valid"/>, else exactly one, naming <paramref name="key"/>.</summary>
    private static void AssertValidation(string key, bool valid, ConnectorOptions connector, ClientSessionOptions session)
    {
        foreach (var errors in new[] { connector.Validate(), session.Validate() })
        {
            if (valid)
            {
                Assert.Empty(errors);
            }
            else
            {
                Assert.StartsWith(key + " ", Assert.Single(errors), StringComparison.Ordinal);
            }
        }
    }
}
