// LeakyReluBackward.cs — the backward of leaky_relu(x; slope) = x if x > 0 else slope·x in one pass:
//   dx[i] = g[i] if x[i] > 0 else slope·g[i]        (Maas, Hannun & Ng 2013; PyTorch's convention at 0)
// The engine's composed rule g·(step(x)·(1 − slope) + slope) reads and writes the tensor four times
// and rents three temporaries; WORKLOADS M4 (DCGAN-S) runs it on 64×64×14×14 and 64×128×7×7 maps
// every discriminator pass. The slope is a runtime argument, so this is a loop of its own rather
// than an IBinaryOp struct (those carry no state). Large calls are cut into contiguous parts on the
// WorkerPool; each element is computed by the same code whatever the split (same bits any thread count).
// Tests: tests/Engine/LeakyReluFusedTests.cs. Used by Tensor.LeakyRelu (engine/Ops/Elementwise.cs).
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static unsafe class LeakyReluBackward
{
    /// <summary>dx = g where x &gt; 0, slope·g elsewhere; all three spans the same length (dx may alias g).</summary>
    public static void Run(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float slope, Span<float> dx)
    {
        int n = dx.Length;
        if (g.Length != n || x.Length != n)
            throw new ArgumentException($"LeakyReluBackward: g has {g.Length} elements, x {x.Length}, dx {n}; they must match.");
        int parts = n < Map.ParallelThreshold || WorkerPool.Threads == 1 ? 1 : WorkerPool.PartsFor(n, 1 << 16);
        fixed (float* pg = g, px = x, pd = dx)
        {
            var job = new Job(pg, px, pd, slope, n, parts);
            if (parts == 1) job.Execute(0);
            else WorkerPool.Run(job, parts);
        }
    }

    static void Serial(float* g, float* x, float* dx, float slope, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(slope);
            for (; i + 16 <= n; i += 16)
            {
                var gv = Vector512.Load(g + i);
                Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(x + i), Vector512<float>.Zero), gv, gv * s).Store(dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(slope);
            for (; i + 8 <= n; i += 8)
            {
                var gv = Vector256.Load(g + i);
                Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Load(x + i), Vector256<float>.Zero), gv, gv * s).Store(dx + i);
            }
        }
        for (; i < n; i++) dx[i] = x[i] > 0 ? g[i] : slope * g[i];
    }

    readonly struct Job(float* g, float* x, float* dx, float slope, int n, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (lo, len) = WorkerPool.Range(n, parts, part);
            Serial(g + lo, x + lo, dx + lo, slope, len);
        }
    }
}
