using AsyncHttp.Internal;
using Microsoft.Extensions.Time.Testing;

namespace AsyncHttp.Tests.Timeouts;

/// <summary>Many deadlines behind one timer: each node expires at its own deadline, in deadline order.</summary>
public sealed class DeadlineLanesTests
{
    private sealed class Node(string name) : DeadlineNode
    {
        public string Name { get; } = name;
    }

    private sealed class Owner
    {
        private readonly Lock _lock = new();

        public Owner(FakeTimeProvider time) => Lanes = new DeadlineLanes(time, Expire);

        public DeadlineLanes Lanes { get; }

        public List<string> Expired { get; } = [];

        public static long At(FakeTimeProvider time, double seconds) => time.GetTimestamp() + (long)(seconds * time.TimestampFrequency);

        public void Add(Node node, long at, double spanSeconds)
        {
            lock (_lock)
            {
                Lanes.Add(node, new Deadline(at, (long)spanSeconds, TimeoutKind.Total));
            }
        }

        public void Remove(Node node)
        {
            lock (_lock)
            {
                DeadlineLanes.Remove(node);
            }
        }

        private void Expire()
        {
            lock (_lock)
            {
                while (Lanes.NextExpired(Lanes.Now) is Node node)
                {
                    DeadlineLanes.Remove(node);
                    Expired.Add(node.Name);
                }

                Lanes.Rearm();
            }
        }
    }

    [Fact]
    public void Add_NodesOfOneLaneOutOfOrder_ExpireInDeadlineOrder()
    {
        var time = new FakeTimeProvider();
        var owner = new Owner(time);
        owner.Add(new Node("five"), Owner.At(time, 5), 10);
        owner.Add(new Node("three"), Owner.At(time, 3), 10);
        owner.Add(new Node("four"), Owner.At(time, 4), 10);

        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(["three"], owner.Expired);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["three", "four"], owner.Expired);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["three", "four", "five"], owner.Expired);
    }

    [Fact]
    public void Remove_TheEarliestNode_TheNextExpiresOnTimeAndTheRemovedNever()
    {
        var time = new FakeTimeProvider();
        var owner = new Owner(time);
        var first = new Node("first");
        owner.Add(first, Owner.At(time, 2), 2);
        owner.Add(new Node("second"), Owner.At(time, 6), 6);

        owner.Remove(first);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(owner.Expired);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(["second"], owner.Expired);
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(["second"], owner.Expired);
    }

    [Fact]
    public void Add_LanesOfDifferentSpans_TheTimerFollowsTheEarliestHead()
    {
        var time = new FakeTimeProvider();
        var owner = new Owner(time);
        owner.Add(new Node("long"), Owner.At(time, 30), 30);
        owner.Add(new Node("short"), Owner.At(time, 1), 1);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["short"], owner.Expired);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(["short", "long"], owner.Expired);
    }

    [Fact]
    public void Stop_WithNodesLeft_NothingExpiresAfterIt()
    {
        var time = new FakeTimeProvider();
        var owner = new Owner(time);
        owner.Add(new Node("left"), Owner.At(time, 1), 1);

        owner.Lanes.Stop();
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Empty(owner.Expired);
    }
}
