// RowSums.cs — y[i] = Σ_j x[i·n + j]: the sum over trailing axes of a contiguous tensor (WORKLOADS K5
// "rowsum", softmax-free reductions, loss means). Each row is one TensorPrimitives.Sum (SIMD, its own
// fixed association order), so splitting rows over the WorkerPool changes no bits: the result is the
// same whatever the thread count. Memory-bound: at 4096 × 4096 one core reads ≈ 30 GB/s, two ≈ 2×.
// Tests: tests/Engine/ReduceMoreTests.cs (RowSums_*). Bench: bench -- workloads --only K5.
using System.Numerics.Tensors;

namespace Denoise.Kernels.Cpu;

public static unsafe class RowSums
{
    /// <summary>Rows of at least this many floats in total go to the pool (below it the hand-off costs more than it saves).</summary>
    public static int ParallelThreshold { get; set; } = 1 << 17;

    public static void Run(ReadOnlySpan<float> x, Span<float> y, int rowLength)
    {
        int rows = y.Length;
        if ((long)rows * rowLength > x.Length)
            throw new ArgumentException($"RowSums: {rows} rows of {rowLength} need {(long)rows * rowLength} floats; x has {x.Length}.");
        long total = (long)rows * rowLength;
        int parts = total < ParallelThreshold || WorkerPool.Threads == 1 || rows < 2
            ? 1 : Math.Min(rows, WorkerPool.PartsFor(total, 1 << 16));
        if (parts == 1) { Serial(x, y, rowLength, 0, rows); return; }
        fixed (float* px = x, py = y) WorkerPool.Run(new Job(px, py, rowLength, rows, parts), parts);
    }

    static void Serial(ReadOnlySpan<float> x, Span<float> y, int n, int first, int count)
    {
        for (int i = first; i < first + count; i++) y[i] = TensorPrimitives.Sum(x.Slice(i * n, n));
    }

    readonly struct Job(float* x, float* y, int n, int rows, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (lo, len) = WorkerPool.Range(rows, parts, part);
            Serial(new ReadOnlySpan<float>(x, rows * n), new Span<float>(y, rows), n, lo, len);
        }
    }
}
