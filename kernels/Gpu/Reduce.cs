// Reduce.cs — row sums y[r] = Σ_c x[r·cols + c] (and row maxima) of a row-major rows×cols matrix, one group per row.
//
// Each thread first sums a strided slice of its row in a register (coalesced: neighbouring threads
// read neighbouring columns), then the group folds its partial sums in shared memory, halving the
// active threads each step (the classic tree of Harris, "Optimizing Parallel Reduction in CUDA", 2007).
// No warp shuffles: ILGPU translates them to OpenCL only for Intel, and this kernel must compile for
// every backend. The group size must be a power of two (checked by the launcher).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Reduce
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class Reduce
{
    public static void RowSumKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        var partial = SharedMemory.GetDynamic<float>();          // one slot per thread of the group
        int tid = Group.IdxX, threads = Group.DimX, rowStride = Grid.DimX;
        for (int r = Grid.IdxX; r < rows; r += rowStride)
        {
            // 1. strided register sum over the row
            long start = (long)r * cols;
            float s = 0f;
            for (int c = tid; c < cols; c += threads) s += x[start + c];
            partial[tid] = s;
            Group.Barrier();
            // 2. tree in shared memory
            for (int half = threads >> 1; half > 0; half >>= 1)
            {
                if (tid < half) partial[tid] += partial[tid + half];
                Group.Barrier();
            }
            if (tid == 0) y[r] = partial[0];
            Group.Barrier();                                      // partial[] is reused by the next row
        }
    }

    /// <summary>y[r] = max_c x[r·cols + c] (cols ≥ 1): the same tree as RowSum with max (softmax's shift).</summary>
    public static void RowMaxKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, threads = Group.DimX, rowStride = Grid.DimX;
        for (int r = Grid.IdxX; r < rows; r += rowStride)
        {
            long start = (long)r * cols;
            float m = x[start + (tid < cols ? tid : 0)];
            for (int c = tid + threads; c < cols; c += threads) m = MathF.Max(m, x[start + c]);
            partial[tid] = m;
            Group.Barrier();
            for (int half = threads >> 1; half > 0; half >>= 1)
            {
                if (tid < half) partial[tid] = MathF.Max(partial[tid], partial[tid + half]);
                Group.Barrier();
            }
            if (tid == 0) y[r] = partial[0];
            Group.Barrier();
        }
    }

    /// <summary>y[r] = max_c x[r·cols + c]; cols ≥ 1.</summary>
    public static void RowMax(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (cols < 1 || x.Length < (long)rows * cols || y.Length < rows)
            throw new ArgumentException($"Gpu.Reduce.RowMax: x has {x.Length} elements and y {y.Length}; expected {rows}×{cols} (cols ≥ 1) and {rows}.");
        if (rows == 0) return;
        var (groups, threads) = RowConfig(gpu, rows, cols);
        var k = gpu.Kernels.Get("Reduce.RowMax",
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(RowMaxKernel));
        k(new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(threads)), x, y, rows, cols);
    }

    /// <summary>Enough threads to cover a row in a few strides, a power of two, within the device's limits.</summary>
    static (int groups, int threads) RowConfig(GpuContext gpu, int rows, int cols)
    {
        int max = gpu.Kind == GpuKind.CpuAccelerator ? 16 : 256;
        int threads = 1;
        while (threads < max && threads < cols) threads <<= 1;
        int groups = Math.Max(1, Math.Min(rows, gpu.Kind == GpuKind.CpuAccelerator ? 2 : 65535));
        return (groups, threads);
    }

    /// <summary>partial[g] = Σ of the grid-stride slice of group g (first stage of a full sum).</summary>
    public static void PartialSumKernel(ArrayView<float> x, ArrayView<float> partial)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, threads = Group.DimX;
        long n = x.Length, stride = (long)Grid.DimX * threads;
        float s = 0f;
        for (long i = (long)Grid.IdxX * threads + tid; i < n; i += stride) s += x[i];
        shared[tid] = s;
        Group.Barrier();
        for (int half = threads >> 1; half > 0; half >>= 1)
        {
            if (tid < half) shared[tid] += shared[tid + half];
            Group.Barrier();
        }
        if (tid == 0) partial[Grid.IdxX] = shared[0];
    }

    /// <summary>
    /// y[0] = Σ x in two stages: every group of the device's grid sums a grid-stride slice, then one group
    /// sums the partials (a single row sum would leave all but one multiprocessor idle). The grid is fixed
    /// per device, so the result is deterministic. <paramref name="partial"/> needs ≥ PartialCount floats.
    /// </summary>
    public static void SumAll(GpuContext gpu, ArrayView<float> x, ArrayView<float> partial, ArrayView<float> y)
    {
        int groups = PartialCount(gpu, x.Length), threads = gpu.Kind == GpuKind.CpuAccelerator ? 16 : 256;
        if (partial.Length < groups || y.Length < 1) throw new ArgumentException($"Gpu.Reduce.SumAll: partial has {partial.Length} floats (need {groups}), y {y.Length}.");
        var k = gpu.Kernels.Get("Reduce.PartialSum", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(PartialSumKernel));
        k(new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(threads)), x, partial.SubView(0, groups));
        RowSum(gpu, partial.SubView(0, groups), y.SubView(0, 1), 1, groups);
    }

    /// <summary>Groups of SumAll's first stage: enough to fill the device, none idle for small inputs.</summary>
    public static int PartialCount(GpuContext gpu, long n)
    {
        int threads = gpu.Kind == GpuKind.CpuAccelerator ? 16 : 256;
        return (int)Math.Clamp((n + threads - 1) / threads, 1, gpu.StreamGroups);
    }

    /// <summary>y[r] = Σ_c x[r·cols + c]; y has <paramref name="rows"/> elements.</summary>
    public static void RowSum(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (x.Length != (long)rows * cols || y.Length != rows)
            throw new ArgumentException($"Gpu.Reduce.RowSum: x has {x.Length} elements and y {y.Length}; expected {rows}×{cols} = {(long)rows * cols} and {rows}.");
        var (groups, threads) = RowConfig(gpu, rows, cols);
        var k = gpu.Kernels.Get("Reduce.RowSum",
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(RowSumKernel));
        k(new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(threads)), x, y, rows, cols);
    }
}
