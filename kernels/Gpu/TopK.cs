// TopK.cs — the indices of the k largest values of each row (last axis), sorted largest first, ties by
// lower index: the order engine/Random/RandomOps.cs's CPU path sorts by (float.CompareTo descending,
// then index ascending; NaN compares smallest, −0 equals +0). Values are then a gather of these indices.
//
// V0 (current): one group per row (grid-stride over rows), k selection rounds. Round j finds the best
// element strictly after the previous pick in that total order: each thread scans a strided slice of the
// row for its best candidate, writes it to shared memory, and after a barrier thread 0 reduces the
// group's candidates and publishes the pick; a second barrier lets every thread see it. O(k·C/G) per
// thread and 2k barriers per row: right for the small k of top-k sampling and filtering. For large k a
// bitonic sort of the row in shared memory is the next version.
//
// Also here: argmax / argmin along the last axis (one thread per row, the CPU's loop).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class TopK
{
    /// <summary>The largest group the kernel's shared arrays hold.</summary>
    public const int MaxGroup = 256;

    /// <summary>float.CompareTo: −1, 0, 1 with NaN the smallest value and NaN = NaN.</summary>
    static int Compare(float a, float b)
    {
        if (a < b) return -1;
        if (a > b) return 1;
        if (a == b) return 0;
        bool an = float.IsNaN(a), bn = float.IsNaN(b);
        return an ? (bn ? 0 : -1) : 1;
    }

    /// <summary>True when element i of the row comes before element j in the top-k order.</summary>
    static bool Before(ArrayView<float> x, int row, int i, int j)
    {
        int c = Compare(x[row + i], x[row + j]);
        return c > 0 || (c == 0 && i < j);
    }

    public static void RowsKernel(ArrayView<float> x, ArrayView<int> idx, int rows, int cols, int k)
    {
        var cand = SharedMemory.Allocate<int>(MaxGroup);
        var pick = SharedMemory.Allocate<int>(1);
        int t = Group.IdxX, G = Group.DimX;
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int row = r * cols;
            int prev = -1;
            for (int j = 0; j < k; j++)
            {
                int best = -1;
                for (int c = t; c < cols; c += G)
                    if ((prev < 0 || Before(x, row, prev, c)) && (best < 0 || Before(x, row, c, best))) best = c;
                cand[t] = best;
                Group.Barrier();
                if (t == 0)
                {
                    int b = -1;
                    for (int u = 0; u < G; u++)
                    {
                        int c = cand[u];
                        if (c >= 0 && (b < 0 || Before(x, row, c, b))) b = c;
                    }
                    idx[r * k + j] = b;
                    pick[0] = b;
                }
                Group.Barrier();
                prev = pick[0];
            }
        }
    }

    /// <summary>
    /// argmax / argmin of each row, one thread per row: the CPU's loop exactly (the first strict improvement
    /// wins, so ties go to the lower index and a NaN is never chosen unless it sits at column 0).
    /// </summary>
    public static void ArgExtremeKernel(ArrayView<float> x, ArrayView<int> idx, int rows, int cols, int max)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int r = Grid.GlobalIndex.X; r < rows; r += stride)
        {
            int row = r * cols, best = 0;
            float bv = x[row];
            for (int j = 1; j < cols; j++)
            {
                float v = x[row + j];
                if (max != 0 ? v > bv : v < bv) { best = j; bv = v; }
            }
            idx[r] = best;
        }
    }

    /// <summary>idx (rows) = argmax (or argmin) of each row of x (rows × cols, contiguous, cols ≥ 1).</summary>
    public static void ArgExtreme(GpuContext gpu, ArrayView<float> x, ArrayView<int> idx, int rows, int cols, bool max)
    {
        if (cols < 1 || x.Length < (long)rows * cols || idx.Length < rows)
            throw new ArgumentException($"Gpu.TopK.ArgExtreme: views x={x.Length}, idx={idx.Length} do not fit {rows}×{cols} (cols ≥ 1).");
        if (rows == 0) return;
        gpu.Kernels.Get("TopK.ArgExtreme", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, int>(ArgExtremeKernel))
            (gpu.StreamConfig(rows), x, idx, rows, cols, max ? 1 : 0);
    }

    /// <summary>idx (rows × k) = the top-k column indices of each row of x (rows × cols, contiguous), 1 ≤ k ≤ cols.</summary>
    public static void Rows(GpuContext gpu, ArrayView<float> x, ArrayView<int> idx, int rows, int cols, int k)
    {
        if (k < 1 || k > cols || x.Length < (long)rows * cols || idx.Length < (long)rows * k)
            throw new ArgumentException($"Gpu.TopK.Rows: k = {k} must be in [1, {cols}] and views x={x.Length}, idx={idx.Length} must fit {rows}×{cols} → {rows}×{k}.");
        if (rows == 0) return;
        // A group no wider than the row (or a warp), at most MaxGroup; few groups on the CPU accelerator.
        int group = gpu.Kind == GpuKind.CpuAccelerator ? Math.Min(16, cols) : Math.Clamp(cols, 32, 128);
        int groups = Math.Min(rows, gpu.StreamGroups);
        gpu.Kernels.Get("TopK.Rows", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, int>(RowsKernel))
            (new KernelConfig(groups, group), x, idx, rows, cols, k);
    }
}
