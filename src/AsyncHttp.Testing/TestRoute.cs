namespace AsyncHttp.Testing;

/// <summary>
/// One route of a <see cref="TestUpstream"/>: which requests it answers, and the responses it gives them in turn.
/// Each <see cref="Respond(TestResponse)"/> adds a response to the sequence; once the sequence is used up, its last
/// response answers every further request. A route without a response answers 200 with an empty body.
/// </summary>
public sealed class TestRoute
{
    private readonly Lock _lock = new();
    private readonly Func<TestRequest, bool> _matches;
    private readonly List<Func<TestRequest, TestResponse>> _responses = [];
    private readonly List<TestRequest> _requests = [];

    internal TestRoute(Func<TestRequest, bool> matches)
    {
        _matches = matches;
    }

    /// <summary>The requests this route answered, in the order they arrived.</summary>
    public IReadOnlyList<TestRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Adds <paramref name="response"/> to the responses this route gives in turn.</summary>
    /// <param name="response">The response.</param>
    /// <returns>This route, to add the next response.</returns>
    public TestRoute Respond(TestResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return Respond(_ => response);
    }

    /// <summary>Adds a response made from each request (to echo an id, say) to the responses this route gives in turn.</summary>
    /// <param name="responder">Makes the response; called once per request it answers.</param>
    /// <returns>This route, to add the next response.</returns>
    public TestRoute Respond(Func<TestRequest, TestResponse> responder)
    {
        ArgumentNullException.ThrowIfNull(responder);
        lock (_lock)
        {
            _responses.Add(responder);
        }

        return this;
    }

    internal bool Matches(TestRequest request) => _matches(request);

    /// <summary>Records <paramref name="request"/> and picks its response.</summary>
    internal TestResponse Answer(TestRequest request)
    {
        Func<TestRequest, TestResponse>? responder;
        lock (_lock)
        {
            responder = _responses.Count == 0 ? null : _responses[Math.Min(_requests.Count, _responses.Count - 1)];
            _requests.Add(request);
        }

        return responder is null
            ? new TestResponse()
            : responder(request) ?? throw new InvalidOperationException($"A responder of the test upstream returned null for {request}.");
    }
}
