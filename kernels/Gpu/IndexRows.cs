// IndexRows.cs — index_select and its adjoint index_add on the GPU, over a contiguous tensor viewed as
// (outer, size, inner) with a 1-D Int32 index of length L along the middle axis (the layout of
// engine/Ops/Indexing.cs's SelectRows). Embedding lookups, nearest upsampling and reflect/replicate
// padding are index_selects; their backwards are index_adds.
//
// IndexAdd is a gather, not a scatter: one thread per output element walks the whole index and adds
// every source slice that lands on it, in index order. No atomics, deterministic, and the CPU's
// order of additions (l ascending) per element. It costs O(L) per element — fine for upsampling
// (L ≈ size) and embedding tables of a few hundred rows; a sort-based segmented sum would be the
// next version for large vocabularies.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>(outer, size, inner) and the index length L of one index_select / index_add.</summary>
public readonly struct IndexShape(int outer, int size, int inner, int length)
{
    public readonly int Outer = outer, Size = size, Inner = inner, L = length;
}

public static class IndexRows
{
    /// <summary>y[o, l, i] = x[o, idx[l], i].</summary>
    public static void SelectKernel<T>(ArrayView<T> x, ArrayView<int> idx, ArrayView<T> y, IndexShape s) where T : unmanaged
    {
        int n = s.Outer * s.L * s.Inner, stride = Grid.DimX * Group.DimX, per = s.L * s.Inner;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int o = e / per, rest = e - o * per, l = rest / s.Inner, i = rest - l * s.Inner;
            y[e] = x[(o * s.Size + idx[l]) * s.Inner + i];
        }
    }

    /// <summary>y[o, r, i] += Σ_{l: idx[l] = r} src[o, l, i] (y holds the tensor added into).</summary>
    public static void AddKernel(ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, IndexShape s)
    {
        int n = s.Outer * s.Size * s.Inner, stride = Grid.DimX * Group.DimX, per = s.Size * s.Inner;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int o = e / per, rest = e - o * per, r = rest / s.Inner, i = rest - r * s.Inner;
            float acc = y[e];
            for (int l = 0; l < s.L; l++)
                if (idx[l] == r) acc += src[(o * s.L + l) * s.Inner + i];
            y[e] = acc;
        }
    }

    /// <summary>
    /// The (weighted) one-hot target of a class-index loss: hot[(n·C + c)·inner + i] = w[c] (1 without weights)
    /// where c = t[n·inner + i] ≠ ignore; hot must be zero-filled. One thread per target position.
    /// </summary>
    public static void OneHotKernel(ArrayView<int> t, ArrayView<float> w, ArrayView<float> hot, int classes, int inner, int ignore)
    {
        int n = t.IntLength, stride = Grid.DimX * Group.DimX;
        for (int p = Grid.GlobalIndex.X; p < n; p += stride)
        {
            int c = t[p];
            if (c == ignore) continue;
            int sample = p / inner, i = p - sample * inner;
            hot[(sample * classes + c) * inner + i] = w.Length > 0 ? w[c] : 1f;
        }
    }

    /// <summary>One-hot targets (values already checked to lie in [0, classes) or equal ignore).</summary>
    public static void OneHot(GpuContext gpu, ArrayView<int> t, ArrayView<float> w, ArrayView<float> hot, int classes, int inner, int ignore)
    {
        if (hot.Length < t.Length * (long)classes || (w.Length > 0 && w.Length < classes) || inner < 1)
            throw new ArgumentException($"Gpu.IndexRows.OneHot: targets {t.Length}, weights {w.Length}, output {hot.Length} do not fit {classes} classes, inner {inner}.");
        if (t.Length == 0) return;
        gpu.Kernels.Get("IndexRows.OneHot", a => a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int>(OneHotKernel))
            (gpu.StreamConfig(t.Length), t, w, hot, classes, inner, ignore);
    }

    /// <summary>gather along the last axis: y[r, l] = x[r, idx[r, l]] (x rows of <paramref name="cols"/>, index rows of L).</summary>
    public static void GatherLastKernel(ArrayView<float> x, ArrayView<int> idx, ArrayView<float> y, int cols, int L)
    {
        int n = idx.IntLength, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int r = e / L;
            y[e] = x[r * cols + idx[e]];
        }
    }

    /// <summary>scatter_add along the last axis as a gather: y[r, c] += Σ_{l: idx[r, l] = c} src[r, l], l in order.</summary>
    public static void ScatterAddLastKernel(ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, int cols, int L)
    {
        int n = y.IntLength, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int r = e / cols, c = e - r * cols, b = r * L;
            float acc = y[e];
            for (int l = 0; l < L; l++)
                if (idx[b + l] == c) acc += src[b + l];
            y[e] = acc;
        }
    }

    /// <summary>y (rows × L) = x (rows × cols) gathered at idx (rows × L); indices already range-checked.</summary>
    public static void GatherLast(GpuContext gpu, ArrayView<float> x, ArrayView<int> idx, ArrayView<float> y, int rows, int cols, int L)
    {
        if (x.Length < (long)rows * cols || idx.Length != (long)rows * L || y.Length != idx.Length)
            throw new ArgumentException($"Gpu.IndexRows.GatherLast: views x={x.Length}, index={idx.Length}, y={y.Length} do not fit {rows}×{cols} → {rows}×{L}.");
        if (idx.Length == 0) return;
        gpu.Kernels.Get("IndexRows.GatherLast", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(GatherLastKernel))
            (gpu.StreamConfig(idx.Length), x, idx, y, cols, L);
    }

    /// <summary>y (rows × cols, holding the tensor added into) += scatter_add of src (rows × L) at idx (rows × L).</summary>
    public static void ScatterAddLast(GpuContext gpu, ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, int rows, int cols, int L)
    {
        if (src.Length != (long)rows * L || idx.Length != src.Length || y.Length != (long)rows * cols)
            throw new ArgumentException($"Gpu.IndexRows.ScatterAddLast: views src={src.Length}, index={idx.Length}, y={y.Length} do not fit {rows}×{L} → {rows}×{cols}.");
        if (y.Length == 0 || L == 0) return;
        gpu.Kernels.Get("IndexRows.ScatterAddLast", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(ScatterAddLastKernel))
            (gpu.StreamConfig(y.Length), src, idx, y, cols, L);
    }

    static void Check(string what, long x, long idx, long y, IndexShape s, bool add)
    {
        long selected = (long)s.Outer * s.L * s.Inner, full = (long)s.Outer * s.Size * s.Inner;
        if (idx < s.L || (add ? x < selected || y < full : x < full || y < selected) || full > int.MaxValue || selected > int.MaxValue)
            throw new ArgumentException($"Gpu.IndexRows.{what}: views ({x}, index {idx}, {y}) do not fit outer={s.Outer}, size={s.Size}, inner={s.Inner}, L={s.L}.");
    }

    /// <summary>index_select (the indices must already be known to lie in [0, size)).</summary>
    public static void Select<T>(GpuContext gpu, ArrayView<T> x, ArrayView<int> idx, ArrayView<T> y, IndexShape s) where T : unmanaged
    {
        Check("Select", x.Length, idx.Length, y.Length, s, add: false);
        long n = (long)s.Outer * s.L * s.Inner;
        if (n == 0) return;
        gpu.Kernels.Get($"IndexRows.Select<{typeof(T).Name}>", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<int>, ArrayView<T>, IndexShape>(SelectKernel<T>))
            (gpu.StreamConfig(n), x, idx, y, s);
    }

    /// <summary>y += index_add of src (y already holds the tensor added into).</summary>
    public static void Add(GpuContext gpu, ArrayView<float> src, ArrayView<int> idx, ArrayView<float> y, IndexShape s)
    {
        Check("Add", src.Length, idx.Length, y.Length, s, add: true);
        long n = (long)s.Outer * s.Size * s.Inner;
        if (n == 0 || s.L == 0) return;
        gpu.Kernels.Get("IndexRows.Add", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, IndexShape>(AddKernel))
            (gpu.StreamConfig(n), src, idx, y, s);
    }
}
