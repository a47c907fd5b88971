// Norm/RowSegments.cs — the launch shape and the in-group reductions shared by the GPU row kernels
// (Softmax.cs, LayerNorm.cs): a thread group is cut into segments of Lanes threads (a power of two),
// one row per segment, so a group of 256 threads works on one row of 1024 floats or on 16 rows of 49.
// Each segment folds its threads' partials with a shared-memory tree (Harris 2007), halving the active
// lanes each step: a fixed order, so the sums are deterministic for a given device kind and shape.
// No warp shuffles: ILGPU translates them to OpenCL only for Intel (shared/docs/ILGPU.md §1).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Rows of Length floats; Lanes threads per row (a power of two dividing the group size).</summary>
public readonly struct RowShape(int rows, int length, int lanes)
{
    public readonly int Rows = rows, Length = length, Lanes = lanes;
}

public static class RowSegments
{
    /// <summary>Σ of <paramref name="v"/> over this thread's segment (every lane gets it). <paramref name="partial"/>
    /// has one slot per group thread; every thread of the group must call this (it has barriers).</summary>
    public static float Sum(ArrayView<float> partial, int tid, int lane, int lanes, float v)
    {
        partial[tid] = v;
        Group.Barrier();
        for (int half = lanes >> 1; half > 0; half >>= 1)
        {
            if (lane < half) partial[tid] += partial[tid + half];
            Group.Barrier();
        }
        float total = partial[tid - lane];
        Group.Barrier();                                      // partial[] is reused by the next reduction
        return total;
    }

    /// <summary>Two sums in one tree (half the barriers of two calls); <paramref name="partial"/> has two slots per thread.</summary>
    public static void Sum2(ArrayView<float> partial, int tid, int lane, int lanes, ref float a, ref float b)
    {
        int n = Group.DimX;
        partial[tid] = a;
        partial[n + tid] = b;
        Group.Barrier();
        for (int half = lanes >> 1; half > 0; half >>= 1)
        {
            if (lane < half)
            {
                partial[tid] += partial[tid + half];
                partial[n + tid] += partial[n + tid + half];
            }
            Group.Barrier();
        }
        a = partial[tid - lane];
        b = partial[n + tid - lane];
        Group.Barrier();
    }

    /// <summary>max of <paramref name="v"/> over the segment, as <see cref="Sum"/>.</summary>
    public static float Max(ArrayView<float> partial, int tid, int lane, int lanes, float v)
    {
        partial[tid] = v;
        Group.Barrier();
        for (int half = lanes >> 1; half > 0; half >>= 1)
        {
            if (lane < half) partial[tid] = MathF.Max(partial[tid], partial[tid + half]);
            Group.Barrier();
        }
        float total = partial[tid - lane];
        Group.Barrier();
        return total;
    }

    /// <summary>
    /// The launch for <paramref name="rows"/> rows of <paramref name="length"/>: lanes = the power of two
    /// nearest above length/4 (about four elements a thread), capped by the group size (256 threads on a
    /// GPU; 16 on the CPU accelerator, where each group thread is an OS thread), and as many rows per group
    /// as fill it. Grid-stride over row blocks: the CPU accelerator gets 2 groups. Shape and kind only.
    /// </summary>
    public static (KernelConfig Config, RowShape Shape) Launch(GpuContext gpu, int rows, int length, int sharedPerThread)
    {
        bool cpu = gpu.Kind == GpuKind.CpuAccelerator;
        int max = cpu ? 16 : 256, lanes = 1;
        while (lanes < max && lanes * 4 < length) lanes <<= 1;
        int threads = lanes;
        while (threads < max && threads / lanes < rows) threads <<= 1;
        int perGroup = threads / lanes;
        long blocks = ((long)rows + perGroup - 1) / perGroup;
        int groups = (int)Math.Clamp(blocks, 1, cpu ? 2 : 65535);
        return (new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(sharedPerThread * threads)),
            new RowShape(rows, length, lanes));
    }
}
