using System.Net;
using AsyncHttp.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Transport;

/// <summary>
/// <see cref="ClientSessionOptions.TransportFactory"/> replaces the socket layer only: the handler sees admitted
/// requests with the session's cancellation, and the session's rules hold around it.
/// </summary>
public sealed class TransportFactoryTests
{
    [Fact]
    public async Task TransportFactory_Set_ItsHandlerAnswersWithTheSessionsNameAndClock()
    {
        var time = new FakeTimeProvider();
        var contexts = new List<ClientTransportContext>();
        var handler = new AnsweringHandler();
        var options = new ClientSessionOptions
        {
            BaseAddress = new Uri("http://upstream.test/"),
            TransportFactory = context =>
            {
                contexts.Add(context);
                return handler;
            },
        };
        await using var session = new ClientSession("fake", options, time);

        await using var response = await session.GetAsync("items/1");

        Assert.Equal("answer to GET http://upstream.test/items/1", await response.ReadAsStringAsync());
        var context = Assert.Single(contexts);
        Assert.Equal("fake", context.SessionName);
        Assert.Same(time, context.TimeProvider);
        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.Equal(0, session.Connector.Stats.OpenConnections);
    }

    [Fact]
    public async Task TransportFactory_HandlerHoldsTheSlot_QueueAndTotalTimeoutApply()
    {
        var time = new FakeTimeProvider();
        var handler = new HangingHandler();
        var options = new ClientSessionOptions
        {
            Limit = 1,
            Timeout = { Total = TimeSpan.FromSeconds(5) },
            TransportFactory = _ => handler,
        };
        await using var session = new ClientSession("fake", options, time);

        var first = session.GetAsync("http://upstream.test/a");
        var second = session.GetAsync("http://upstream.test/b");
        await handler.Entered.Task.WaitAsync(TestServer.Patience);

        // The handler is below admission: one request in it, one in the queue.
        Assert.Equal(1, session.Connector.Stats.InUse);
        Assert.Equal(1, session.Connector.Stats.Waiting);

        time.Advance(TimeSpan.FromSeconds(6));
        await Assert.ThrowsAsync<TotalTimeoutException>(() => first);
        await Assert.ThrowsAsync<TotalTimeoutException>(() => second);
        Assert.Equal(0, session.Connector.Stats.InUse);
        Assert.Equal(0, session.Connector.Stats.Waiting);
    }

    [Fact]
    public async Task TransportFactory_SessionDisposed_DisposesTheHandler()
    {
        var handler = new AnsweringHandler();
        var session = new ClientSession(new ClientSessionOptions { TransportFactory = _ => handler });

        await session.DisposeAsync();

        Assert.True(handler.IsDisposed);
    }

    [Fact]
    public void TransportFactory_ReturnsNull_ConstructorThrowsNamingTheSession()
    {
        var options = new ClientSessionOptions { TransportFactory = _ => null! };

        var error = Assert.Throws<InvalidOperationException>(() => new ClientSession("broken", options));

        Assert.Contains("'broken'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clone_CopiesTheTransportFactory()
    {
        Func<ClientTransportContext, HttpMessageHandler> factory = _ => new AnsweringHandler();

        Assert.Same(factory, new ClientSessionOptions { TransportFactory = factory }.Clone().TransportFactory);
    }

    private sealed class AnsweringHandler : HttpMessageHandler
    {
        public bool IsDisposed { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
            {
                RequestMessage = request,
                Content = new StringContent($"answer to {request.Method} {request.RequestUri}"),
            });

        protected override void Dispose(bool disposing)
        {
            IsDisposed = true;
            base.Dispose(disposing);
        }
    }

    private sealed class HangingHandler : HttpMessageHandler
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("Not reached.");
        }
    }
}
