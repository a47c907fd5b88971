// Norm/Softmax.cs — row softmax and log-softmax on the GPU, forward and backward: the math of
// kernels/Cpu/Norm/Softmax.cs (see its header), rows of the last axis, one segment of a thread group
// per row (RowSegments.cs: a group takes one long row or several short ones).
//   Forward:  m = max x (segment tree), s = Σ e^(x − m) (tree), then y = e^(x − m)/s or x − m − ln s.
//             Three reads of the row, one write; e^(x − m) is recomputed rather than stored (a GPU
//             has flops to spare and the row is in L1/L2 by then).
//   Backward: s = Σ dy·y (softmax) or Σ dy (log-softmax), then dx = y·(dy − s) or dy − e^y·s.
// An all −∞ row gives NaN, as on the CPU. Sums are float trees (the CPU sums in a different order):
// expect agreement to ~1e-6 relative. The previous GPU path, kept as the reference in the engine, is
// the composition max → sub → exp → sum → div (engine/Ops/Reduce.cs SoftmaxComposed).
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
// Bench: bench/GpuBench (section "norms"), on a GPU machine through bench/gpu/run-on-device.sh
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class Softmax
{
    public static void ForwardKernel(ArrayView<float> x, ArrayView<float> y, RowShape a, int log)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, lanes = a.Lanes, seg = tid / lanes, lane = tid - seg * lanes, L = a.Length;
        int perGroup = Group.DimX / lanes, step = Grid.DimX * perGroup;
        for (int first = Grid.IdxX * perGroup; first < a.Rows; first += step)
        {
            int row = first + seg;
            bool live = row < a.Rows;                         // every thread stays for the barriers
            long o = (long)row * L;
            float m = float.NegativeInfinity;
            if (live) for (int j = lane; j < L; j += lanes) m = MathF.Max(m, x[o + j]);
            m = RowSegments.Max(partial, tid, lane, lanes, m);
            if (m == float.NegativeInfinity) m = 0f;          // all −∞: s = 0 ⇒ NaN below, not ∞ − ∞ here
            float s = 0f;
            if (live) for (int j = lane; j < L; j += lanes) s += MathF.Exp(x[o + j] - m);
            s = RowSegments.Sum(partial, tid, lane, lanes, s);
            if (!live) continue;
            if (log != 0)
            {
                float shift = m + MathF.Log(s);
                for (int j = lane; j < L; j += lanes) y[o + j] = x[o + j] - shift;
            }
            else
            {
                float inv = 1f / s;
                for (int j = lane; j < L; j += lanes) y[o + j] = MathF.Exp(x[o + j] - m) * inv;
            }
        }
    }

    public static void BackwardKernel(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, RowShape a, int log)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, lanes = a.Lanes, seg = tid / lanes, lane = tid - seg * lanes, L = a.Length;
        int perGroup = Group.DimX / lanes, step = Grid.DimX * perGroup;
        for (int first = Grid.IdxX * perGroup; first < a.Rows; first += step)
        {
            int row = first + seg;
            bool live = row < a.Rows;
            long o = (long)row * L;
            float s = 0f;
            if (live)
            {
                if (log != 0) for (int j = lane; j < L; j += lanes) s += dy[o + j];
                else for (int j = lane; j < L; j += lanes) s += dy[o + j] * y[o + j];
            }
            s = RowSegments.Sum(partial, tid, lane, lanes, s);
            if (!live) continue;
            if (log != 0) for (int j = lane; j < L; j += lanes) dx[o + j] = dy[o + j] - MathF.Exp(y[o + j]) * s;
            else for (int j = lane; j < L; j += lanes) dx[o + j] = y[o + j] * (dy[o + j] - s);
        }
    }

    static int Rows(string op, long x, long y, long z, int L)
    {
        if (L < 1 || x % L != 0 || y != x || z != x || x > int.MaxValue)
            throw new ArgumentException($"Gpu.Softmax.{op}: views of {x}, {y}, {z} floats do not hold whole rows of L = {L} (L ≥ 1, equal lengths).");
        return (int)(x / L);
    }

    /// <summary>y = softmax (or log-softmax) of each row of <paramref name="L"/> floats of x.</summary>
    public static void Forward(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, int L, bool log)
    {
        int R = Rows("Forward", x.Length, y.Length, y.Length, L);
        if (R == 0) return;
        var (config, shape) = RowSegments.Launch(gpu, R, L, 1);
        gpu.Kernels.Get("Softmax.Forward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, RowShape, int>(ForwardKernel))
            (config, x, y, shape, log ? 1 : 0);
    }

    /// <summary>dx from the saved output y and the upstream gradient dy.</summary>
    public static void Backward(GpuContext gpu, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int L, bool log)
    {
        int R = Rows("Backward", y.Length, dy.Length, dx.Length, L);
        if (R == 0) return;
        var (config, shape) = RowSegments.Launch(gpu, R, L, 1);
        gpu.Kernels.Get("Softmax.Backward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, RowShape, int>(BackwardKernel))
            (config, y, dy, dx, shape, log ? 1 : 0);
    }
}
