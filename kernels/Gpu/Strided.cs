// Strided.cs — element-wise GPU kernels over arbitrary views: transposes, slices, broadcast (stride-0)
// axes, and strided destinations (a region of a bigger tensor). The GPU twin of engine/Ops/Strided.cs.
//
// Index math: the output element i (0 ≤ i < N, row-major over the view's shape) is decomposed into
// per-dimension indices by repeated division from the innermost dimension outwards, and each operand's
// element offset is offset + Σ index[d]·stride[d]. The host coalesces dimensions first (adjacent dims
// that every operand walks as one merge, size-1 dims drop), so most launches are rank 1–3; the layout
// holds up to MaxRank dims, padded at the front with size-1 dims (a division by 1 costs a few cycles
// and keeps the kernel free of loops over struct fields, which ILGPU cannot index).
//
// Same op structs as the CPU (kernels/Ops): TOp.Apply(float) is compiled for the GPU. Grid-stride with
// the stride hoisted (ILGPU.md §5), one bound test per element (the loop condition).
//
// Also here: Fill, Where (a select), the column sum of a row-major matrix (Σ over leading axes: bias
// gradients, SumTo), and an Int32 strided copy (index tensors, views of labels).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Strided
using Denoise.Kernels.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>
/// Shape (S0 outermost … S5 innermost) and the strides/offsets of up to three operands (A, B, output Y)
/// of one strided element-wise launch. Build with <see cref="Create"/>.
/// </summary>
public readonly struct StridedLayout
{
    public const int MaxRank = 6;
    public readonly int N;
    public readonly int S0, S1, S2, S3, S4, S5;
    public readonly int A0, A1, A2, A3, A4, A5, AOff;
    public readonly int B0, B1, B2, B3, B4, B5, BOff;
    public readonly int Y0, Y1, Y2, Y3, Y4, Y5, YOff;

    StridedLayout(int n, int[] s, int[] a, int aOff, int[] b, int bOff, int[] y, int yOff)
    {
        N = n;
        S0 = s[0]; S1 = s[1]; S2 = s[2]; S3 = s[3]; S4 = s[4]; S5 = s[5];
        A0 = a[0]; A1 = a[1]; A2 = a[2]; A3 = a[3]; A4 = a[4]; A5 = a[5]; AOff = aOff;
        B0 = b[0]; B1 = b[1]; B2 = b[2]; B3 = b[3]; B4 = b[4]; B5 = b[5]; BOff = bOff;
        Y0 = y[0]; Y1 = y[1]; Y2 = y[2]; Y3 = y[3]; Y4 = y[4]; Y5 = y[5]; YOff = yOff;
    }

    /// <summary>Layout of a launch over <paramref name="shape"/> (rank ≤ MaxRank); null strides = unused operand.</summary>
    public static StridedLayout Create(int[] shape, int[]? a, int aOff, int[]? b, int bOff, int[] y, int yOff)
    {
        int r = shape.Length;
        if (r > MaxRank) throw new ArgumentException($"Gpu.StridedLayout: rank {r} exceeds {MaxRank} (coalesce dimensions first).");
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n > int.MaxValue) throw new ArgumentException($"Gpu.StridedLayout: {n} elements exceed the 32-bit index range.");
        return new StridedLayout((int)n, Pad(shape, 1), Pad(a, 0), aOff, Pad(b, 0), bOff, Pad(y, 0), yOff);

        int[] Pad(int[]? v, int fill)
        {
            var p = new int[MaxRank];
            for (int d = 0; d < MaxRank - r; d++) p[d] = fill;
            for (int d = 0; d < r; d++) p[MaxRank - r + d] = v == null ? 0 : v[d];
            return p;
        }
    }
}

public static class Strided
{
    // ---- index math ----------------------------------------------------------------------------

    static void Dim(ref int rest, int size, int sa, int sb, int sy, ref int pa, ref int pb, ref int py)
    {
        int q = rest / size, k = rest - q * size;
        pa += k * sa; pb += k * sb; py += k * sy;
        rest = q;
    }

    /// <summary>Offsets of output element <paramref name="i"/> in A, B and Y.</summary>
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

    // ---- kernels -------------------------------------------------------------------------------

    /// <summary>y[Y(i)] = op(x[A(i)]).</summary>
    public static void UnaryKernel<TOp>(ArrayView<float> x, ArrayView<float> y, StridedLayout L) where TOp : struct, IUnaryOp
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            Locate(L, i, out int pa, out _, out int py);
            y[py] = TOp.Apply(x[pa]);
        }
    }

    /// <summary>y[Y(i)] = op(a[A(i)], b[B(i)]): broadcasting is a stride of 0.</summary>
    public static void BinaryKernel<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, StridedLayout L) where TOp : struct, IBinaryOp
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            Locate(L, i, out int pa, out int pb, out int py);
            y[py] = TOp.Apply(a[pa], b[pb]);
        }
    }

    /// <summary>y[Y(i)] = op(x[A(i)], s), or op(s, x[A(i)]) when <paramref name="scalarLeft"/> ≠ 0: a host scalar
    /// (a CPU 0-d tensor mixed with a device tensor, like `1f - y`) travels as a kernel argument, not a buffer.</summary>
    public static void ScalarKernel<TOp>(ArrayView<float> x, float s, int scalarLeft, ArrayView<float> y, StridedLayout L) where TOp : struct, IBinaryOp
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            Locate(L, i, out int pa, out _, out int py);
            y[py] = scalarLeft != 0 ? TOp.Apply(s, x[pa]) : TOp.Apply(x[pa], s);
        }
    }

    public static void CopyIntKernel(ArrayView<int> x, ArrayView<int> y, StridedLayout L)
    {
        int n = L.N, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            Locate(L, i, out int pa, out _, out int py);
            y[py] = x[pa];
        }
    }

    /// <summary>y[i] = c[i] ≠ 0 ? a[i] : b[i] (contiguous): a select, so an Inf in the unselected branch stays out.</summary>
    public static void WhereKernel(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        int n = y.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = c[i] != 0f ? a[i] : b[i];
    }

    public static void FillKernel(ArrayView<float> y, float value)
    {
        int n = y.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = value;
    }

    /// <summary>y[c] = Σ_r x[r·cols + c], r in order (the CPU's row-by-row add, so bit-identical on the CPU
    /// accelerator). One thread per column: neighbouring threads read neighbouring floats (coalesced).</summary>
    public static void ColSumKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int c = Grid.GlobalIndex.X; c < cols; c += stride)
        {
            float s = x[c];
            for (int r = 1; r < rows; r++) s += x[r * cols + c];
            y[c] = s;
        }
    }

    // ---- launchers (asynchronous on the accelerator's default stream) ---------------------------

    public static void Unary<TOp>(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, StridedLayout L) where TOp : struct, IUnaryOp
    {
        if (L.N == 0) return;
        gpu.Kernels.Get($"Strided.Unary<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, StridedLayout>(UnaryKernel<TOp>))(gpu.StreamConfig(L.N), x, y, L);
    }

    public static void Binary<TOp>(GpuContext gpu, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, StridedLayout L) where TOp : struct, IBinaryOp
    {
        if (L.N == 0) return;
        gpu.Kernels.Get($"Strided.Binary<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout>(BinaryKernel<TOp>))(gpu.StreamConfig(L.N), a, b, y, L);
    }

    public static void Scalar<TOp>(GpuContext gpu, ArrayView<float> x, float s, bool scalarLeft, ArrayView<float> y, StridedLayout L) where TOp : struct, IBinaryOp
    {
        if (L.N == 0) return;
        gpu.Kernels.Get($"Strided.Scalar<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<ArrayView<float>, float, int, ArrayView<float>, StridedLayout>(ScalarKernel<TOp>))(gpu.StreamConfig(L.N), x, s, scalarLeft ? 1 : 0, y, L);
    }

    public static void CopyInt(GpuContext gpu, ArrayView<int> x, ArrayView<int> y, StridedLayout L)
    {
        if (L.N == 0) return;
        gpu.Kernels.Get("Strided.CopyInt",
            acc => acc.LoadStreamKernel<ArrayView<int>, ArrayView<int>, StridedLayout>(CopyIntKernel))(gpu.StreamConfig(L.N), x, y, L);
    }

    public static void Where(GpuContext gpu, ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        if (c.Length != y.Length || a.Length != y.Length || b.Length != y.Length)
            throw new ArgumentException($"Gpu.Strided.Where: lengths c={c.Length}, a={a.Length}, b={b.Length}, y={y.Length} must match.");
        if (y.Length == 0) return;
        gpu.Kernels.Get("Strided.Where", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(WhereKernel))
            (gpu.StreamConfig(y.Length), c, a, b, y);
    }

    public static void Fill(GpuContext gpu, ArrayView<float> y, float value)
    {
        if (y.Length == 0) return;
        gpu.Kernels.Get("Strided.Fill", acc => acc.LoadStreamKernel<ArrayView<float>, float>(FillKernel))(gpu.StreamConfig(y.Length), y, value);
    }

    /// <summary>y[c] = Σ_r x[r·cols + c] for a row-major rows×cols x (rows ≥ 1).</summary>
    public static void ColSum(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (rows < 1 || x.Length < (long)rows * cols || y.Length < cols)
            throw new ArgumentException($"Gpu.Strided.ColSum: x has {x.Length} elements and y {y.Length}; expected ≥ {rows}×{cols} and ≥ {cols} (rows ≥ 1).");
        if (cols == 0) return;
        gpu.Kernels.Get("Strided.ColSum", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(ColSumKernel))
            (gpu.StreamConfig(cols), x, y, rows, cols);
    }
}
