// WorkerPoolTests.cs — the persistent worker pool (kernels/Cpu/Parallel/WorkerPool.cs): every
// part runs exactly once, nested and back-to-back jobs work, single-thread mode runs in order, an
// exception in any part reaches the caller (and the pool still works afterwards), the caller runs a
// prefix of the parts (workers claim from the back), and a float sum
// split by WorkerPool.Range gives the same bits on 1 and 2 threads.
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

    readonly struct WhoJob(int[] thread) : IParallelJob
    {
        public void Execute(int part) { thread[part] = Environment.CurrentManagedThreadId; Thread.SpinWait(2000); }
    }

    // The caller claims from the front and workers from the back, so the caller's parts are always
    // 0..k−1 (the half of a tensor it wrote in the last op), whoever is faster.
    [Test]
    public void Run_CallerRunsAPrefix_WorkersTheRest()
    {
        int saved = WorkerPool.Threads;
        WorkerPool.Threads = 2;
        try
        {
            bool sawWorker = false;
            for (int round = 0; round < 200; round++)
            {
                var thread = new int[16];
                WorkerPool.Run(new WhoJob(thread), 16);
                int me = Environment.CurrentManagedThreadId, k = 0;
                while (k < 16 && thread[k] == me) k++;
                Assert.That(thread.Skip(k), Has.None.EqualTo(me), $"round {round}: caller's parts {string.Join(",", thread)} are not a prefix");
                Assert.That(thread, Has.None.EqualTo(0), $"round {round}: a part did not run");
                sawWorker |= k < 16;
            }
            Assert.That(sawWorker || Environment.ProcessorCount < 2, Is.True, "no part ever ran on a worker");
        }
        finally { WorkerPool.Threads = saved; }
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

    readonly struct ThrowJob(int bad, int[] hits) : IParallelJob
    {
        public void Execute(int part)
        {
            Interlocked.Increment(ref hits[part]);
            if (part == bad) throw new InvalidOperationException($"part {part} failed");
        }
    }

    [TestCase(0), TestCase(5), TestCase(15)]
    public void Run_ExceptionInAPart_ReachesTheCaller_AndThePoolStillWorks(int bad)
    {
        int saved = WorkerPool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                WorkerPool.Threads = threads;
                for (int round = 0; round < 20; round++)
                {
                    var hits = new int[16];
                    var ex = Assert.Throws<InvalidOperationException>(() => WorkerPool.Run(new ThrowJob(bad, hits), 16));
                    Assert.That(ex!.Message, Is.EqualTo($"part {bad} failed"));
                    var ok = new int[16];
                    WorkerPool.Run(new CountJob(ok, nested: false), 16);
                    Assert.That(ok, Is.All.EqualTo(1), $"threads {threads}, round {round}");
                }
            }
        }
        finally { WorkerPool.Threads = saved; }
    }

    unsafe readonly struct SumJob(float* x, int n, int parts, double* partial) : IParallelJob
    {
        public void Execute(int part)
        {
            var (lo, len) = WorkerPool.Range(n, parts, part);
            float s = 0;
            for (int i = lo; i < lo + len; i++) s += x[i];
            partial[part] = s;
        }
    }

    [Test]
    public unsafe void Run_PartitionedSum_SameBitsOnOneAndTwoThreads()
    {
        const int n = 100_003;
        var rng = new Random(2);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)rng.NextDouble() - 0.3f;
        int parts = WorkerPool.PartsFor(n, 4096);
        double Sum()
        {
            var partial = new double[parts];
            fixed (float* px = x) fixed (double* pp = partial) WorkerPool.Run(new SumJob(px, n, parts, pp), parts);
            double s = 0;
            foreach (var p in partial) s += p;
            return s;
        }
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1;
            double one = Sum();
            WorkerPool.Threads = 2;
            for (int round = 0; round < 20; round++) Assert.That(Sum(), Is.EqualTo(one));
        }
        finally { WorkerPool.Threads = saved; }
    }

    [Test]
    public void Map_SplitOverThePool_SameBitsAsOneThread()
    {
        int n = Map.ParallelThreshold * 2 + 13;   // several parts and a scalar tail
        var rng = new Random(4);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 20 - 10);
        float[] one = new float[n], two = new float[n];
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1;
            Map.Unary<Denoise.Kernels.Ops.SiLU>(x, one);
            WorkerPool.Threads = 2;
            Map.Unary<Denoise.Kernels.Ops.SiLU>(x, two);
        }
        finally { WorkerPool.Threads = saved; }
        Assert.That(two, Is.EqualTo(one));
        for (int i = 0; i < n; i += 997)
            Assert.That(one[i], Is.EqualTo(x[i] / (1 + Math.Exp(-x[i]))).Within(1e-6 * (1 + Math.Abs(x[i]))), $"x = {x[i]}");
    }
}
