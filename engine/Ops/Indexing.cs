// Indexing ops with Int32 index tensors, PyTorch semantics: gather / scatter_add, index_select /
// index_add, one_hot. (torch.gather, torch.Tensor.scatter_add, torch.index_select, torch.index_add,
// torch.nn.functional.one_hot.)
//
// The ops come in adjoint pairs. Gather reads x at the indices; its transpose (the backward) adds
// the gradient back at the same indices, which is scatter_add into zeros; scatter_add's backward
// w.r.t. src is in turn a gather. Likewise index_select ↔ index_add. Each op's backward calls its
// partner — a recorded op — so gradients of gradients (create-graph) come for free.
//
// Bounds are checked for every index, and the error names the op, the offending value, the size of
// the dimension and the shapes involved. Negative indices are rejected (as torch.gather does).
//
// Row-copy fast path: index_select / index_add on a contiguous tensor copy (or add) whole runs of
// `inner` = prod(shape[dim+1:]) floats per index with Span.CopyTo / TensorPrimitives.Add; embedding
// lookups (dim 0) and nearest upsampling along H are exactly that case.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~IndexingTests"
using System.Numerics.Tensors;

namespace Denoise;

public sealed partial class Tensor
{
    // ───────────────────── gather ↔ scatter_add ─────────────────────

    /// <summary>
    /// out[i][j][k] = this[index[i][j][k]][j][k] for dim = 0 (and similarly for other dims), like
    /// torch.gather. <paramref name="index"/> is Int32 with the same rank as this tensor; its size may
    /// be smaller than this tensor's in every dimension other than <paramref name="dim"/>. The result
    /// has the index's shape. Backward: the gradient is scatter-added at the same indices.
    /// </summary>
    public Tensor Gather(int dim, Tensor index)
    {
        const string op = "gather";
        CheckFloat(op);
        CheckIndexTensor(op, index);
        CheckSameDevice(op, this, index);
        int d = Dim(dim, op);
        if (index.Rank != Rank)
            throw new ArgumentException($"{op}: index of shape {index.ShapeStr} must have the same rank as tensor{NameSuffix} of shape {ShapeStr}.");
        for (int k = 0; k < Rank; k++)
            if (k != d && index.shape[k] > shape[k])
                throw new ArgumentException($"{op}: index of shape {index.ShapeStr} is larger than tensor{NameSuffix} of shape {ShapeStr} in dimension {k} ({index.shape[k]} > {shape[k]}); only dimension {d} may differ freely.");

        var y = Empty(index.shape, DType.Float32, Device);
        if (y.Storage is GpuStorage && GpuGatherScatterChecked(op, index, d, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}")
            && ((d == Rank - 1 && GpuOps.GatherLast(this, index, y)) || GpuOps.Gather(this, index, y, d)))
            return Autograd.Record(op, y, [this], g => [RequiresGrad ? ZerosLike(this).ScatterAdd(d, index, g) : null]);
        var idx = index.ContiguousNoGrad().IntSpan;
        var ys = y.Span;
        var xd = Data;
        int size = shape[d], step = strides[d];
        // Walk the index positions; A tracks this tensor's offset with dim's stride left out.
        var walk = new Odometer(index.shape, WithoutDim(strides, d), offset);
        for (int p = 0; p < idx.Length; p++, walk.Next())
        {
            int i = idx[p];
            if ((uint)i >= (uint)size) throw IndexOutOfRange(op, i, d, size, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}");
            ys[p] = xd[walk.A + i * step];
        }

        var x = this;
        return Autograd.Record(op, y, [x], g => [x.RequiresGrad ? ZerosLike(x).ScatterAdd(d, index, g) : null]);
    }

    /// <summary>
    /// Out-of-place torch.scatter_add: a copy of this tensor with, for dim = 0,
    /// out[index[i][j][k]][j][k] += src[i][j][k] for every position of <paramref name="index"/>
    /// (repeated indices accumulate). index.size(k) ≤ src.size(k) for all k and ≤ this.size(k) for
    /// k ≠ dim. Backward: g for this tensor, g gathered at the indices for src.
    /// </summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src)
    {
        const string op = "scatter_add";
        CheckFloat(op); src.CheckFloat(op);
        CheckIndexTensor(op, index);
        CheckSameDevice(op, this, index); CheckSameDevice(op, this, src);
        int d = Dim(dim, op);
        if (index.Rank != Rank || src.Rank != Rank)
            throw new ArgumentException($"{op}: tensor{NameSuffix} {ShapeStr}, index {index.ShapeStr} and src{src.NameSuffix} {src.ShapeStr} must all have the same rank.");
        for (int k = 0; k < Rank; k++)
        {
            if (index.shape[k] > src.shape[k])
                throw new ArgumentException($"{op}: index of shape {index.ShapeStr} is larger than src{src.NameSuffix} of shape {src.ShapeStr} in dimension {k}.");
            if (k != d && index.shape[k] > shape[k])
                throw new ArgumentException($"{op}: index of shape {index.ShapeStr} is larger than tensor{NameSuffix} of shape {ShapeStr} in dimension {k} ({index.shape[k]} > {shape[k]}); only dimension {d} may differ freely.");
        }

        var y = ContiguousCopy();
        if (y.Storage is GpuStorage && GpuGatherScatterChecked(op, index, d, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}, src shape {src.ShapeStr}")
            && ((d == Rank - 1 && GpuOps.ScatterAddLast(src, index, y)) || GpuOps.ScatterAdd(src, index, y, d)))
        {
            var xs = this;
            return Autograd.Record(op, y, [xs, src], g => [
                xs.RequiresGrad ? g : null,
                src.RequiresGrad ? PadTo(g.Gather(d, index), src.shape) : null]);
        }
        var idx = index.ContiguousNoGrad().IntSpan;
        var yd = y.Data;
        var sd = src.Data;
        var yStrides = ContiguousStrides(shape);
        int size = shape[d], step = yStrides[d];
        // A: output offset with dim's stride left out; B: src offset at the same position.
        var walk = new Odometer(index.shape, WithoutDim(yStrides, d), y.offset, src.strides, src.offset);
        for (int p = 0; p < idx.Length; p++, walk.Next())
        {
            int i = idx[p];
            if ((uint)i >= (uint)size) throw IndexOutOfRange(op, i, d, size, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}, src shape {src.ShapeStr}");
            yd[walk.A + i * step] += sd[walk.B];
        }

        var x = this;
        return Autograd.Record(op, y, [x, src], g => [
            x.RequiresGrad ? g : null,
            src.RequiresGrad ? PadTo(g.Gather(d, index), src.shape) : null]);
    }

    // ───────────────────── index_select ↔ index_add ─────────────────────

    /// <summary>
    /// The slices of this tensor at positions <paramref name="index"/> (1-D Int32) along dim, in
    /// that order (repeats allowed), like torch.index_select. Backward: index_add of the gradient.
    /// </summary>
    /// <summary>index_select on an Int32 tensor (labels, token ids): the same row copy, never recorded.</summary>
    Tensor IndexSelectInts(int dim, Tensor index)
    {
        const string op = "index_select";
        CheckIndexTensor(op, index);
        CheckSameDevice(op, this, index);
        int d = Dim(dim, op);
        if (index.Rank > 1) throw new ArgumentException($"{op}: index must be 1-D, got shape {index.ShapeStr} (tensor{NameSuffix} of shape {ShapeStr}).");
        int size = shape[d];
        ReadOnlySpan<int> idx = IndexChecked(op, index, d, size, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}");
        var ns = (int[])shape.Clone(); ns[d] = index.Numel;
        var y = Empty(ns, DType.Int32, Device);
        var (outer, inner) = OuterInner(shape, d);
        if (y.Storage is GpuStorage) GpuOps.IndexSelect(ContiguousNoGrad(), index, y, outer, size, inner);
        else SelectRows<int>(ContiguousNoGrad().IntSpan, y.IntSpan, idx, outer, size, inner);
        return y;
    }

    /// <summary>The index_select copy, for any element type: x viewed as (outer, size, inner), rows idx of the middle axis.</summary>
    static void SelectRows<T>(ReadOnlySpan<T> xs, Span<T> ys, ReadOnlySpan<int> idx, int outer, int size, int inner)
    {
        int L = idx.Length;
        for (int o = 0; o < outer; o++)
        {
            var src = xs.Slice(o * size * inner, size * inner);
            var dst = ys.Slice(o * L * inner, L * inner);
            if (inner == 1)
                for (int l = 0; l < L; l++) dst[l] = src[idx[l]];
            else
                for (int l = 0; l < L; l++) src.Slice(idx[l] * inner, inner).CopyTo(dst.Slice(l * inner, inner));
        }
    }

    public Tensor IndexSelect(int dim, Tensor index)
    {
        const string op = "index_select";
        if (DType == DType.Int32) return IndexSelectInts(dim, index);
        CheckFloat(op);
        CheckIndexTensor(op, index);
        CheckSameDevice(op, this, index);
        int d = Dim(dim, op);
        if (index.Rank > 1) throw new ArgumentException($"{op}: index must be 1-D, got shape {index.ShapeStr} (tensor{NameSuffix} of shape {ShapeStr}).");
        int size = shape[d];
        ReadOnlySpan<int> idx = IndexChecked(op, index, d, size, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}");

        var ns = (int[])shape.Clone(); ns[d] = index.Numel;
        var y = Empty(ns, DType.Float32, Device);
        var (outer, inner) = OuterInner(shape, d);
        if (y.Storage is GpuStorage) GpuOps.IndexSelect(ContiguousNoGrad(), index, y, outer, size, inner);
        else SelectRows<float>(ContiguousNoGrad().Span, y.Span, idx, outer, size, inner);

        var x = this;
        return Autograd.Record(op, y, [x], g => [x.RequiresGrad ? ZerosLike(x).IndexAdd(d, index, g) : null]);
    }

    /// <summary>
    /// Out-of-place torch.index_add: a copy of this tensor with source's slice l added to slice
    /// index[l] along dim (repeats accumulate). source has this tensor's shape except
    /// source.size(dim) = index length. Backward: g for this tensor, g.IndexSelect for source.
    /// </summary>
    public Tensor IndexAdd(int dim, Tensor index, Tensor source)
    {
        const string op = "index_add";
        CheckFloat(op); source.CheckFloat(op);
        CheckIndexTensor(op, index);
        CheckSameDevice(op, this, index); CheckSameDevice(op, this, source);
        int d = Dim(dim, op);
        if (index.Rank > 1) throw new ArgumentException($"{op}: index must be 1-D, got shape {index.ShapeStr} (tensor{NameSuffix} of shape {ShapeStr}).");
        var expected = (int[])shape.Clone(); expected[d] = index.Numel;
        if (!ShapeUtil.Equal(source.shape, expected))
            throw new ArgumentException($"{op}: source{source.NameSuffix} of shape {source.ShapeStr} does not match tensor{NameSuffix} of shape {ShapeStr} with dimension {d} set to the index length {index.Numel}: expected {ShapeUtil.Str(expected)}.");
        int size = shape[d];
        ReadOnlySpan<int> idx = IndexChecked(op, index, d, size, $"tensor shape {ShapeStr}, index shape {index.ShapeStr}");

        var y = ContiguousCopy();
        var (outer, inner) = OuterInner(shape, d);
        if (y.Storage is GpuStorage)
        {
            GpuOps.IndexAdd(source.ContiguousNoGrad(), index, y, outer, size, inner);
            return RecordIndexAdd(op, y, index, source, d);
        }
        var ss = source.ContiguousNoGrad().Span;
        var ys = y.Span;
        int L = idx.Length;
        for (int o = 0; o < outer; o++)
        {
            var dst = ys.Slice(o * size * inner, size * inner);
            var src = ss.Slice(o * L * inner, L * inner);
            if (inner == 1)
                for (int l = 0; l < L; l++) dst[idx[l]] += src[l];
            else
                for (int l = 0; l < L; l++)
                {
                    var row = dst.Slice(idx[l] * inner, inner);
                    TensorPrimitives.Add(row, src.Slice(l * inner, inner), row);
                }
        }

        return RecordIndexAdd(op, y, index, source, d);
    }

    Tensor RecordIndexAdd(string op, Tensor y, Tensor index, Tensor source, int d)
    {
        var x = this;
        return Autograd.Record(op, y, [x, source], g => [
            x.RequiresGrad ? g : null,
            source.RequiresGrad ? g.IndexSelect(d, index) : null]);
    }

    // ───────────────────── one_hot ─────────────────────

    /// <summary>
    /// Float32 one-hot encoding of Int32 <paramref name="labels"/> (any shape) → shape (..., numClasses).
    /// numClasses = −1 uses max(labels) + 1, like torch.nn.functional.one_hot. Not differentiable.
    /// </summary>
    public static Tensor OneHot(Tensor labels, int numClasses = -1)
    {
        const string op = "one_hot";
        CheckIndexTensor(op, labels, what: "labels");
        if (labels.Storage is GpuStorage) return OneHotOnDevice(labels, numClasses);
        var ls = labels.ContiguousNoGrad().IntSpan;
        if (numClasses == -1)
        {
            if (ls.Length == 0) throw new ArgumentException($"{op}: cannot infer numClasses from empty labels of shape {labels.ShapeStr}; pass it explicitly.");
            numClasses = TensorPrimitives.Max<int>(ls) + 1;
        }
        if (numClasses <= 0) throw new ArgumentException($"{op}: numClasses must be positive (or −1 to infer), got {numClasses}.");
        for (int p = 0; p < ls.Length; p++)
            if ((uint)ls[p] >= (uint)numClasses)
                throw new ArgumentOutOfRangeException(nameof(labels), $"{op}: label {ls[p]} at flat position {p} is out of range for {numClasses} classes (labels shape {labels.ShapeStr}).");
        var y = Full([.. labels.shape, numClasses], 0f, labels.Device);
        var ys = y.Span;
        for (int p = 0; p < ls.Length; p++) ys[p * numClasses + ls[p]] = 1f;
        return y;
    }

    /// <summary>
    /// one_hot of device labels: the range check is a kernel (two ints read back) and the one-hot fill is
    /// IndexRows.OneHot. Inferring numClasses (−1) needs max(labels): that reads the labels (an explicit read).
    /// </summary>
    static Tensor OneHotOnDevice(Tensor labels, int numClasses)
    {
        const string op = "one_hot";
        if (numClasses == -1)
        {
            var all = labels.ToIntArray();
            if (all.Length == 0) throw new ArgumentException($"{op}: cannot infer numClasses from empty labels of shape {labels.ShapeStr}; pass it explicitly.");
            numClasses = TensorPrimitives.Max<int>(all) + 1;
        }
        if (numClasses <= 0) throw new ArgumentException($"{op}: numClasses must be positive (or −1 to infer), got {numClasses}.");
        if (GpuOps.FirstOutOfRange(labels, numClasses) is (int p, int v))
            throw new ArgumentOutOfRangeException(nameof(labels), $"{op}: label {v} at flat position {p} is out of range for {numClasses} classes (labels shape {labels.ShapeStr}).");
        var y = Full([.. labels.shape, numClasses], 0f, labels.Device);
        if (labels.Numel > 0) GpuOps.OneHot(labels, y, numClasses);
        return y;
    }

    // ───────────────────── helpers ─────────────────────

    static void CheckIndexTensor(string op, Tensor index, string what = "index")
    {
        if (index.DType != DType.Int32)
            throw new ArgumentException($"{op}: {what}{index.NameSuffix} of shape {index.ShapeStr} is {index.DType}; expected an Int32 tensor.");
    }

    /// <summary>The device-side range check of a device index before a gather/scatter kernel; true when it passes (throws otherwise).</summary>
    bool GpuGatherScatterChecked(string op, Tensor index, int d, string shapes)
    {
        if (index.Storage is not GpuStorage) return false;
        CheckRangeOnDevice(op, index, d, shape[d], shapes);
        return true;
    }

    /// <summary>
    /// The range check of a device index without reading it: a kernel counts the out-of-range values and the
    /// host reads back two ints (GpuOps.FirstOutOfRange); the error names the first bad value as the CPU's does.
    /// </summary>
    static void CheckRangeOnDevice(string op, Tensor index, int dim, int size, string shapes)
    {
        if (GpuOps.FirstOutOfRange(index, size) is (_, int value)) throw IndexOutOfRange(op, value, dim, size, shapes);
    }

    /// <summary>A 1-D index checked against [0, size): its values on the CPU; on a device, checked by a kernel
    /// (nothing read but two ints) and an empty span returned, since the device path never needs the values.</summary>
    ReadOnlySpan<int> IndexChecked(string op, Tensor index, int dim, int size, string shapes)
    {
        if (Storage is GpuStorage && index.Storage is GpuStorage) { CheckRangeOnDevice(op, index, dim, size, shapes); return default; }
        ReadOnlySpan<int> idx = Storage is GpuStorage ? GpuOps.IndexValues(index) : index.ContiguousNoGrad().IntSpan;
        CheckRange(op, idx, dim, size, shapes);
        return idx;
    }

    static void CheckRange(string op, ReadOnlySpan<int> idx, int dim, int size, string shapes)
    {
        for (int p = 0; p < idx.Length; p++)
            if ((uint)idx[p] >= (uint)size) throw IndexOutOfRange(op, idx[p], dim, size, shapes);
    }

    static ArgumentOutOfRangeException IndexOutOfRange(string op, int value, int dim, int size, string shapes) =>
        new("index", $"{op}: index {value} is out of range for dimension {dim} of size {size} (valid: 0..{size - 1}; {shapes}).");

    /// <summary>(prod of sizes before dim, prod of sizes after dim).</summary>
    static (int outer, int inner) OuterInner(int[] shape, int dim)
    {
        int outer = 1, inner = 1;
        for (int k = 0; k < dim; k++) outer *= shape[k];
        for (int k = dim + 1; k < shape.Length; k++) inner *= shape[k];
        return (outer, inner);
    }

    static int[] WithoutDim(int[] strides, int dim)
    {
        var s = (int[])strides.Clone();
        s[dim] = 0;
        return s;
    }

    /// <summary>Zero-pads g at the end of each dimension up to <paramref name="target"/> (a no-op when equal).</summary>
    static Tensor PadTo(Tensor g, int[] target)
    {
        if (ShapeUtil.Equal(g.shape, target)) return g;
        var after = new int[target.Length];
        for (int k = 0; k < target.Length; k++) after[k] = target[k] - g.shape[k];
        return g.PadDims(new int[target.Length], after, 0f);
    }

    /// <summary>
    /// Row-major walk over <c>shape</c> that keeps two strided offsets (A, B) in step, so a loop
    /// over positions p = 0, 1, … can address two differently laid-out tensors without dividing.
    /// </summary>
    struct Odometer
    {
        readonly int[] shape, sa, sb;
        readonly int[] idx;
        public int A, B;

        public Odometer(int[] shape, int[] stridesA, int offsetA, int[]? stridesB = null, int offsetB = 0)
        {
            this.shape = shape; sa = stridesA; sb = stridesB ?? new int[shape.Length];
            idx = new int[shape.Length];
            A = offsetA; B = offsetB;
        }

        public void Next()
        {
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                A += sa[k]; B += sb[k];
                if (++idx[k] < shape[k]) return;
                A -= sa[k] * shape[k]; B -= sb[k] * shape[k];
                idx[k] = 0;
            }
        }
    }
}
