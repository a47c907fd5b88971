// RowSums.cs — y[i] = Σ_j x[i·n + j]: the sum over trailing axes of a contiguous tensor (WORKLOADS K5
// "rowsum", softmax-free reductions, loss means). Memory-bound: 4096 × 4096 floats is 64 MiB read once.
// Versions (K5 rowsum 4096², median ms, bench `versions --rowsum`, results in bench/results/cpu-2026-11-23-gemm.md):
//   V0Primitives  one TensorPrimitives.Sum per row: one dependent add chain per row, one
//                 memory stream per core — ≈ 30 GB/s a core, ~60 GB/s on two
//   V1Streams     two rows at a time, 4 Vector512 accumulators each (8 independent add chains)
//                 and a software prefetch 2 KiB ahead on both rows: two streams in flight per core (current)
// Tried against V1 on 2026-11-23 (versions --rowsum --cpu-time, interleaved, load 5–7 on 2 cores) and
// not kept: four rows at a time (16 add chains) with and without prefetch; prefetch distance 256–2048
// floats; prefetchnta and prefetcht1 instead of prefetcht0. All within ±5% of V1 (medians 1.69–1.84 ms,
// V1 1.76), below that load's noise; no prefetch at all was ~10% slower.
// Both are deterministic: each row has its own fixed association order, independent of where the
// rows are split over the WorkerPool, so the bits do not depend on the thread count.
// (V1's order differs from V0's, so their last bits differ.)
// Tests: tests/Engine/ReduceMoreTests.cs (RowSums_*). Bench: bench -- workloads --only K5.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public enum RowSumsVersion { V0Primitives, V1Streams }

public static unsafe class RowSums
{
    /// <summary>Rows of at least this many floats in total go to the pool (below it the hand-off costs more than it saves).</summary>
    public static int ParallelThreshold { get; set; } = 1 << 17;

    public static void Run(ReadOnlySpan<float> x, Span<float> y, int rowLength) => Run(RowSumsVersion.V1Streams, x, y, rowLength);

    public static void Run(RowSumsVersion version, ReadOnlySpan<float> x, Span<float> y, int rowLength)
    {
        int rows = y.Length;
        if ((long)rows * rowLength > x.Length)
            throw new ArgumentException($"RowSums: {rows} rows of {rowLength} need {(long)rows * rowLength} floats; x has {x.Length}.");
        long total = (long)rows * rowLength;
        int parts = total < ParallelThreshold || WorkerPool.Threads == 1 || rows < 2
            ? 1 : Math.Min(rows, WorkerPool.PartsFor(total, 1 << 16));
        fixed (float* px = x, py = y)
        {
            var job = new Job(version, px, py, rowLength, rows, parts);
            if (parts == 1) job.Execute(0);
            else WorkerPool.Run(job, parts);
        }
    }

    static void V0Primitives(float* x, float* y, int n, int first, int count)
    {
        for (int i = first; i < first + count; i++) y[i] = TensorPrimitives.Sum(new ReadOnlySpan<float>(x + (long)i * n, n));
    }

    static void V1Streams(float* x, float* y, int n, int first, int count)
    {
        int i = first, end = first + count;
        if (!Vector512.IsHardwareAccelerated || n < 64)
        {
            for (; i < end; i++) y[i] = Row(x + (long)i * n, n);
            return;
        }
        for (; i + 1 < end; i += 2)
            Pair(x + (long)i * n, x + (long)(i + 1) * n, n, out y[i], out y[i + 1]);
        if (i < end) y[i] = Row(x + (long)i * n, n);
    }

    // How far ahead to prefetch: ~2 KiB is several hundred ns of streaming at ~30 GB/s a row-pair,
    // about one DRAM latency, so each line is requested before the adds reach it.
    const int PrefetchFloats = 512;

    /// <summary>Two rows, 4 accumulators each: Σ in 64-float chunks, the 4 vectors added (0+1)+(2+3), then the tail in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pair(float* a, float* b, int n, out float sa, out float sb)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int j = 0;
        for (; j + 64 <= n; j += 64)
        {
            if (Sse.IsSupported && j + PrefetchFloats < n)
            {
                Sse.Prefetch0(a + j + PrefetchFloats); Sse.Prefetch0(a + j + PrefetchFloats + 16);
                Sse.Prefetch0(a + j + PrefetchFloats + 32); Sse.Prefetch0(a + j + PrefetchFloats + 48);
                Sse.Prefetch0(b + j + PrefetchFloats); Sse.Prefetch0(b + j + PrefetchFloats + 16);
                Sse.Prefetch0(b + j + PrefetchFloats + 32); Sse.Prefetch0(b + j + PrefetchFloats + 48);
            }
            a0 += Vector512.Load(a + j); a1 += Vector512.Load(a + j + 16);
            a2 += Vector512.Load(a + j + 32); a3 += Vector512.Load(a + j + 48);
            b0 += Vector512.Load(b + j); b1 += Vector512.Load(b + j + 16);
            b2 += Vector512.Load(b + j + 32); b3 += Vector512.Load(b + j + 48);
        }
        sa = Finish(a0, a1, a2, a3, a, j, n);
        sb = Finish(b0, b1, b2, b3, b, j, n);
    }

    /// <summary>One row with the same association order as <see cref="Pair"/> (so a row's bits do not depend on its neighbour).</summary>
    static float Row(float* a, int n)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + 64 <= n; j += 64)
            {
                a0 += Vector512.Load(a + j); a1 += Vector512.Load(a + j + 16);
                a2 += Vector512.Load(a + j + 32); a3 += Vector512.Load(a + j + 48);
            }
        return Finish(a0, a1, a2, a3, a, j, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Finish(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3, float* a, int j, int n)
    {
        for (; j + 16 <= n; j += 16) v0 += Vector512.Load(a + j);
        float s = Vector512.Sum((v0 + v1) + (v2 + v3));
        for (; j < n; j++) s += a[j];
        return s;
    }

    readonly struct Job(RowSumsVersion version, float* x, float* y, int n, int rows, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (lo, len) = WorkerPool.Range(rows, parts, part);
            if (version == RowSumsVersion.V0Primitives) V0Primitives(x, y, n, lo, len);
            else V1Streams(x, y, n, lo, len);
        }
    }
}
