// Scan.cs — cumsum, cumprod and the linear recurrence behind cumprod's gradient (engine/Ops/ReduceMore.cs's
// ScanKernel) on the GPU, over the contiguous layout (outer, n, inner) with n the scanned axis.
//
//   V0 (current): one thread per line (o, i), walking k = 0 … n−1 (or back) sequentially:
//     sum     y_k = y_{k∓1} + x_k
//     prod    y_k = y_{k−1} · x_k
//     linear  y_k = fma(a_k, y_{k∓1}, g_k)     (the CPU uses TensorPrimitives.FusedMultiplyAdd: same rounding)
//   Each line does the CPU's operations in the CPU's order, so the CPU accelerator is bit-identical and
//   CUDA is too (add/mul/fma are IEEE-exact). Adjacent threads read adjacent i, so loads coalesce when
//   inner is large. The weak spot is few long lines (a cumsum over the last axis of a small batch):
//   the next version is a work-efficient group scan (Blelloch 1990) per line, which reassociates the
//   sums and so would give up bit-parity with the CPU.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public enum ScanOp { Sum = 0, Prod = 1, Linear = 2 }

/// <summary>(outer, n, inner), the operation, and the direction of one scan launch.</summary>
public readonly struct ScanShape(int outer, int n, int inner, ScanOp op, bool reverse)
{
    public readonly int Outer = outer, N = n, Inner = inner, Op = (int)op, Reverse = reverse ? 1 : 0;
}

public static class Scan
{
    /// <summary>One thread per line; <paramref name="a"/> is read only by the linear scan (empty otherwise).</summary>
    public static void LineKernel(ArrayView<float> x, ArrayView<float> a, ArrayView<float> y, ScanShape s)
    {
        int lines = s.Outer * s.Inner, stride = Grid.DimX * Group.DimX;
        for (int line = Grid.GlobalIndex.X; line < lines; line += stride)
        {
            int o = line / s.Inner, i = line - o * s.Inner;
            int start = o * s.N * s.Inner + i;
            int first = s.Reverse != 0 ? s.N - 1 : 0, dk = s.Reverse != 0 ? -1 : 1;
            int at = start + first * s.Inner, step = dk * s.Inner;
            float acc = x[at];
            y[at] = acc;
            for (int k = 1; k < s.N; k++)
            {
                at += step;
                if (s.Op == 0) acc = acc + x[at];
                else if (s.Op == 1) acc = acc * x[at];
                else acc = MathF.FusedMultiplyAdd(a[at], acc, x[at]);
                y[at] = acc;
            }
        }
    }

    /// <summary>y = scan of x (and a, for the linear scan) along the middle axis of (outer, n, inner); contiguous views.</summary>
    public static void Run(GpuContext gpu, ArrayView<float> x, ArrayView<float> a, ArrayView<float> y, ScanShape s)
    {
        long n = (long)s.Outer * s.N * s.Inner;
        if (x.Length < n || y.Length < n || (s.Op == (int)ScanOp.Linear && a.Length < n) || n > int.MaxValue)
            throw new ArgumentException($"Gpu.Scan.Run: views x={x.Length}, a={a.Length}, y={y.Length} do not fit outer={s.Outer}, n={s.N}, inner={s.Inner}.");
        if (n == 0) return;
        gpu.Kernels.Get("Scan.Line", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ScanShape>(LineKernel))
            (gpu.StreamConfig((long)s.Outer * s.Inner), x, a, y, s);
    }
}
