// WorkerPoolTests.cs — the persistent worker pool (kernels/Cpu/Parallel/WorkerPool.cs): every
// part runs exactly once, nested and back-to-back jobs work, single-thread mode runs in order.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.WorkerPool
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class WorkerPoolTests
{
    readonly struct CountJob(int[] hits, bool nested) : IParallelJob
    {
        public void Execute(int part)
        {
            Interlocked.Increment(ref hits[part]);
            // A job started from inside a job runs serially on that thread.
            if (nested) WorkerPool.Run(new CountJob(new int[3], false), 3);
        }
    }

    [TestCase(1), TestCase(2), TestCase(7), TestCase(257)]
    public void Run_ExecutesEveryPartOnce(int parts)
    {
        for (int round = 0; round < 200; round++)
        {
            var hits = new int[parts];
            WorkerPool.Run(new CountJob(hits, nested: round % 10 == 0), parts);
            Assert.That(hits, Is.All.EqualTo(1), $"round {round}");
        }
    }

    [Test]
    public void Run_AfterWorkersFallAsleep_StillCompletes()
    {
        var hits = new int[4];
        WorkerPool.Run(new CountJob(hits, false), 4);
        Thread.Sleep(50);   // far longer than the spin phase
        WorkerPool.Run(new CountJob(hits, false), 4);
        Assert.That(hits, Is.All.EqualTo(2));
    }

    [Test]
    public void Range_CoversEverythingInOrder()
    {
        foreach (int n in new[] { 0, 1, 7, 13, 65 })
            foreach (int parts in new[] { 1, 2, 3, 16 })
            {
                int expect = 0;
                for (int p = 0; p < parts; p++)
                {
                    var (s, len) = WorkerPool.Range(n, parts, p);
                    Assert.That(s, Is.EqualTo(expect));
                    expect += len;
                }
                Assert.That(expect, Is.EqualTo(n));
            }
    }
}
