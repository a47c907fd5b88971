// GatherScatter.cs — torch.gather / scatter_add along ANY axis, and the device-side index range check,
// as GPU kernels over arbitrary views (the StridedLayout of Strided.cs, rank ≤ 6). IndexRows.cs keeps
// the contiguous last-axis special case and index_select / index_add.
//
//   gather       y[p] = x[A(p) + idx[B(p)]·xStep]      one thread per index position p; A is x's offset
//                                                     with the gathered axis's stride zeroed
//   scatter_add  y[q] += Σ_{l: idx[q with d→l] = q_d} src[q with d→l]    "owner computes": one thread per
//                output element q of the region the index covers, looping over the L index positions of
//                its line in order l = 0, 1, …. No atomics, so the result is deterministic, and each
//                element receives its additions in the CPU's order (the CPU walks the index row-major,
//                so for one output element the contributions arrive with l ascending): bit-identical.
//                Cost O(size·L) per line instead of O(L): fine for the small axes gather/scatter sees
//                here (top-k picks, pooling argmaxes); a sort + segmented sum is the next version for
//                big scatter axes.
//   range check  counts idx values outside [0, size) into status[0] (integer atomics: exact) and the
//                first offending position into status[1] (Atomic.Min), so the host reads two ints, not
//                the index, and names the same value the CPU's error names.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>The scatter axis of one scatter_add launch: its size in the output, the product of the launch
/// shape's dims after it, the index length L along it, and the src / index strides along it.</summary>
public readonly struct ScatterAxis(int size, int inner, int length, int srcStep, int idxStep)
{
    public readonly int Size = size, Inner = inner, L = length, SrcStep = srcStep, IdxStep = idxStep;
}

public static class GatherScatter
{
    static void Dim(ref int rest, int size, int sa, int sb, int sy, ref int pa, ref int pb, ref int py)
    {
        int q = rest / size, k = rest - q * size;
        pa += k * sa; pb += k * sb; py += k * sy;
        rest = q;
    }

    /// <summary>Offsets of launch element <paramref name="i"/> in A, B and Y (Strided.Locate's math).</summary>
    static void Locate(in StridedLayout L, int i, out int pa, out int pb, out int py)
    {
        int rest = i;
        pa = L.AOff; pb = L.BOff; py = L.YOff;
        Dim(ref rest, L.S5, L.A5, L.B5, L.Y5, ref pa, ref pb, ref py);
        Dim(ref rest, L.S4, L.A4, L.B4, L.Y4, ref pa, ref pb, ref py);
        Dim(ref rest, L.S3, L.A3, L.B3, L.Y3, ref pa, ref pb, ref py);
        Dim(ref rest, L.S2, L.A2, L.B2, L.Y2, ref pa, ref pb, ref py);
        Dim(ref rest, L.S1, L.A1, L.B1, L.Y1, ref pa, ref pb, ref py);
        pa += rest * L.A0; pb += rest * L.B0; py += rest * L.Y0;
    }

    /// <summary>y[Y(p)] = x[A(p) + idx[B(p)]·xStep] over the index's shape (indices already range-checked).</summary>
    public static void GatherKernel(ArrayView<float> x, ArrayView<int> idx, ArrayView<float> y, StridedLayout L, int xStep)
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int p = Grid.GlobalIndex.X; p < n; p += stride)
        {
            Locate(L, p, out int pa, out int pb, out int py);
            y[py] = x[pa + idx[pb] * xStep];
        }
    }

    /// <summary>
    /// scatter_add, owner computes: the launch runs over the index's shape with the scatter axis set to the
    /// output's size; A and B are src's and the index's offsets with that axis's stride zeroed, Y the output's.
    /// </summary>
    public static void ScatterAddKernel(ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, StridedLayout L, ScatterAxis ax)
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int q = Grid.GlobalIndex.X; q < n; q += stride)
        {
            Locate(L, q, out int pa, out int pb, out int py);
            int r = (q / ax.Inner) % ax.Size;
            float acc = y[py];
            for (int l = 0; l < ax.L; l++)
                if (idx[pb + l * ax.IdxStep] == r) acc += src[pa + l * ax.SrcStep];
            y[py] = acc;
        }
    }

    /// <summary>status[0] += number of idx values outside [0, size); status[1] = min(status[1], first such position).</summary>
    public static void RangeCheckKernel(ArrayView<int> idx, int size, ArrayView<int> status)
    {
        int n = idx.IntLength, stride = Grid.DimX * Group.DimX, count = 0, first = int.MaxValue;
        for (int p = Grid.GlobalIndex.X; p < n; p += stride)
        {
            int v = idx[p];
            if (v < 0 || v >= size)
            {
                count++;
                if (p < first) first = p;
            }
        }
        if (count > 0)
        {
            Atomic.Add(ref status[0], count);
            Atomic.Min(ref status[1], first);
        }
    }

    // ---- launchers -----------------------------------------------------------------------------

    public static void Gather(GpuContext gpu, ArrayView<float> x, ArrayView<int> idx, ArrayView<float> y, StridedLayout L, int xStep)
    {
        if (L.N == 0) return;
        gpu.Kernels.Get("GatherScatter.Gather", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, StridedLayout, int>(GatherKernel))
            (gpu.StreamConfig(L.N), x, idx, y, L, xStep);
    }

    public static void ScatterAdd(GpuContext gpu, ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, StridedLayout L, ScatterAxis ax)
    {
        if (L.N == 0 || ax.L == 0) return;
        if (ax.Size < 1 || ax.Inner < 1)
            throw new ArgumentException($"Gpu.GatherScatter.ScatterAdd: axis size {ax.Size} and inner {ax.Inner} must be ≥ 1.");
        gpu.Kernels.Get("GatherScatter.ScatterAdd", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, StridedLayout, ScatterAxis>(ScatterAddKernel))
            (gpu.StreamConfig(L.N), src, idx, y, L, ax);
    }

    /// <summary>Counts out-of-range values of a contiguous index into <paramref name="status"/> (2 ints, preset to 0 and int.MaxValue).</summary>
    public static void RangeCheck(GpuContext gpu, ArrayView<int> idx, int size, ArrayView<int> status)
    {
        if (status.Length < 2) throw new ArgumentException($"Gpu.GatherScatter.RangeCheck: status needs 2 ints, got {status.Length}.");
        if (idx.Length == 0) return;
        gpu.Kernels.Get("GatherScatter.RangeCheck", a => a.LoadStreamKernel<ArrayView<int>, int, ArrayView<int>>(RangeCheckKernel))
            (gpu.StreamConfig(idx.Length), idx, size, status);
    }
}
