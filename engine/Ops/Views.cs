// Shape ops. Views share storage (no copy) where the layout allows: Reshape of a contiguous tensor,
// Permute/Transpose, Expand (stride 0), Narrow/Select, Squeeze/Unsqueeze. Each view's backward is
// the inverse view (Expand ↔ SumTo, Narrow ↔ Pad). Copies: Contiguous, Pad, Cat.
namespace Denoise;

public sealed partial class Tensor
{
    // ───────────────────── contiguity ─────────────────────

    /// <summary>This tensor if already contiguous, else a contiguous copy (recorded: gradient passes through).</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous) return this;
        var y = ContiguousCopy();
        return Autograd.Record("contiguous", y, [this], g => [g]);
    }

    /// <summary>A contiguous copy, or this when already contiguous; never recorded.</summary>
    internal Tensor ContiguousNoGrad() => IsContiguous ? this : ContiguousCopy();

    /// <summary>Always a fresh contiguous copy; not recorded.</summary>
    internal Tensor ContiguousCopy()
    {
        var y = Empty(shape, DType, Device);
        if (DType == DType.Int32) Strided.CopyInts(this, y);
        else if (y.Storage is GpuStorage || !StridedCopy.TryTransposed(this, y)) Strided.Unary<Kernels.Ops.Identity>(this, y);
        return y;
    }

    /// <summary>A recorded copy (like torch.clone).</summary>
    public Tensor Clone()
    {
        var y = ContiguousCopy();
        return DType == DType.Int32 ? y : Autograd.Record("clone", y, [this], g => [g]);
    }

    // ───────────────────── reshape family ─────────────────────

    /// <summary>New shape with the same elements; one dimension may be −1. A view when contiguous, else a copy.</summary>
    public Tensor Reshape(params int[] newShape)
    {
        var target = InferShape(newShape, "reshape");
        if (ShapeUtil.Equal(target, shape)) return this;
        var src = IsContiguous ? this : ContiguousNoGrad();
        var y = new Tensor(src.Storage, target, null, src.offset);
        if (DType == DType.Int32) return y;
        var x = this;
        return Autograd.Record("reshape", y, [x], g => [g.Reshape(x.shape)]);
    }

    /// <summary>Like Reshape but requires a contiguous tensor (never copies).</summary>
    public Tensor View(params int[] newShape)
    {
        if (!IsContiguous) throw new InvalidOperationException($"View: tensor{NameSuffix} of shape {ShapeStr} is not contiguous; use Reshape (which copies) or Contiguous() first.");
        return Reshape(newShape);
    }

    /// <summary>Flattens dimensions startDim..endDim into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int s = Dim(startDim, "flatten"), e = Dim(endDim, "flatten");
        var ns = new List<int>();
        for (int d = 0; d < s; d++) ns.Add(shape[d]);
        int m = 1;
        for (int d = s; d <= e; d++) m *= shape[d];
        ns.Add(m);
        for (int d = e + 1; d < Rank; d++) ns.Add(shape[d]);
        return Reshape(ns.ToArray());
    }

    int[] InferShape(int[] newShape, string op)
    {
        var r = (int[])newShape.Clone();
        int infer = -1; long known = 1;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: only one dimension may be −1 in {ShapeUtil.Str(newShape)}.");
                infer = i;
            }
            else if (r[i] < 0) throw new ArgumentException($"{op}: invalid size {r[i]} in {ShapeUtil.Str(newShape)}.");
            else known *= r[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0)
                throw new ArgumentException($"{op}: cannot reshape tensor{NameSuffix} of shape {ShapeStr} ({Numel} elements) into {ShapeUtil.Str(newShape)}.");
            r[infer] = (int)(Numel / known);
        }
        else if (known != Numel)
            throw new ArgumentException($"{op}: cannot reshape tensor{NameSuffix} of shape {ShapeStr} ({Numel} elements) into {ShapeUtil.Str(newShape)} ({known} elements).");
        return r;
    }

    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank) throw new ArgumentException($"unsqueeze: dimension {dim} out of range for rank {Rank}.");
        var ns = shape.ToList(); ns.Insert(d, 1);
        var st = strides.ToList(); st.Insert(d, d < Rank ? strides[d] * shape[d] : 1);
        return ViewOf(ns.ToArray(), st.ToArray(), offset, "unsqueeze");
    }

    /// <summary>Removes dimension <paramref name="dim"/> (must be size 1), or all size-1 dimensions when null.</summary>
    public Tensor Squeeze(int? dim = null)
    {
        var ns = new List<int>(); var st = new List<int>();
        int only = dim is int dd ? Dim(dd, "squeeze") : -1;
        for (int d = 0; d < Rank; d++)
        {
            bool drop = shape[d] == 1 && (only < 0 || d == only);
            if (!drop) { ns.Add(shape[d]); st.Add(strides[d]); }
        }
        return ViewOf(ns.ToArray(), st.ToArray(), offset, "squeeze");
    }

    /// <summary>Reorders dimensions (a view).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"permute: {dims.Length} dimensions given for tensor{NameSuffix} of shape {ShapeStr}.");
        var seen = new bool[Rank];
        var ns = new int[Rank]; var st = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = Dim(dims[i], "permute");
            if (seen[d]) throw new ArgumentException($"permute: dimension {d} repeated in {ShapeUtil.Str(dims)}.");
            seen[d] = true; ns[i] = shape[d]; st[i] = strides[d];
        }
        var y = new Tensor(Storage, ns, st, offset);
        if (DType == DType.Int32) return y;
        var inverse = new int[Rank];
        for (int i = 0; i < Rank; i++) inverse[Dim(dims[i], "permute")] = i;
        return Autograd.Record("permute", y, [this], g => [g.Permute(inverse)]);
    }

    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Dim(dim0, "transpose"), b = Dim(dim1, "transpose");
        var p = Enumerable.Range(0, Rank).ToArray();
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>Transpose of the last two dimensions (matrix transpose).</summary>
    public Tensor T => Rank < 2 ? this : Transpose(-2, -1);

    /// <summary>Broadcasts size-1 dimensions (and new leading ones) to <paramref name="target"/> without copying (stride 0).</summary>
    public Tensor Expand(params int[] target)
    {
        if (ShapeUtil.Equal(target, shape)) return this;
        if (target.Length < Rank) throw new ArgumentException($"expand: target {ShapeUtil.Str(target)} has lower rank than tensor{NameSuffix} of shape {ShapeStr}.");
        int lead = target.Length - Rank;
        var st = new int[target.Length];
        var ts = (int[])target.Clone();
        for (int d = 0; d < target.Length; d++)
        {
            if (d < lead) { st[d] = 0; continue; }
            int s = shape[d - lead];
            if (ts[d] == -1) ts[d] = s;
            if (s == ts[d]) st[d] = strides[d - lead];
            else if (s == 1) st[d] = 0;
            else throw new ArgumentException($"expand: tensor{NameSuffix} of shape {ShapeStr} cannot expand to {ShapeUtil.Str(target)} (dimension {d} is {s}, not 1).");
        }
        var y = new Tensor(Storage, ts, st, offset);
        if (DType == DType.Int32) return y;
        var x = this;
        return Autograd.Record("expand", y, [x], g => [g.SumTo(x.shape)]);
    }

    public Tensor ExpandAs(Tensor other) => Expand(other.shape);

    Tensor ViewOf(int[] ns, int[] st, int off, string op)
    {
        var y = new Tensor(Storage, ns, st, off);
        if (DType == DType.Int32) return y;
        var x = this;
        return Autograd.Record(op, y, [x], g => [g.Reshape(x.shape)]);
    }

    // ───────────────────── slicing ─────────────────────

    /// <summary>Elements start..start+length−1 along dim (a view). Backward pads the gradient with zeros.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = Dim(dim, "narrow");
        if (start < 0) start += shape[d];
        if (start < 0 || length < 0 || start + length > shape[d])
            throw new ArgumentException($"narrow: range [{start}, {start + length}) is outside dimension {d} of size {shape[d]} in tensor{NameSuffix} of shape {ShapeStr}.");
        var ns = (int[])shape.Clone(); ns[d] = length;
        var y = new Tensor(Storage, ns, strides, offset + start * strides[d]);
        if (DType == DType.Int32) return y;
        var x = this;
        return Autograd.Record("narrow", y, [x], g =>
        {
            var before = new int[x.Rank]; var after = new int[x.Rank];
            before[d] = start; after[d] = x.shape[d] - start - length;
            return [g.PadDims(before, after, 0f)];
        });
    }

    /// <summary>Python-style slice [start:end:step] along dim (negative indices count from the end). A view.</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        int d = Dim(dim, "slice");
        int n = shape[d];
        if (step <= 0) throw new ArgumentException($"slice: step must be positive, got {step}.");
        if (start < 0) start += n;
        if (end < 0) end += n;
        start = Math.Clamp(start, 0, n); end = Math.Clamp(end, start, n);
        if (step == 1) return Narrow(d, start, end - start);
        int len = (end - start + step - 1) / step;
        // A stepped slice = narrow to [start, start+len·step), reshape the axis to (len, step), take index 0.
        var x = Narrow(d, start, Math.Min(len * step, n - start));
        if (x.shape[d] < len * step) x = x.PadDims(Enumerable.Range(0, Rank).Select(_ => 0).ToArray(),
            Enumerable.Range(0, Rank).Select(k => k == d ? len * step - x.shape[d] : 0).ToArray(), 0f);
        var split = x.shape.Take(d).Append(len).Append(step).Concat(x.shape.Skip(d + 1)).ToArray();
        return x.Reshape(split).Narrow(d + 1, 0, 1).Squeeze(d + 1);
    }

    /// <summary>The sub-tensor at <paramref name="index"/> along dim (that dimension removed).</summary>
    public Tensor Select(int dim, int index)
    {
        int d = Dim(dim, "select");
        if (index < 0) index += shape[d];
        return Narrow(d, index, 1).Squeeze(d);
    }

    /// <summary>Splits into pieces of <paramref name="size"/> along dim (the last may be smaller).</summary>
    public Tensor[] Split(int size, int dim = 0)
    {
        int d = Dim(dim, "split");
        if (size <= 0) throw new ArgumentException($"split: size must be positive, got {size}.");
        var sizes = new int[(shape[d] + size - 1) / size];
        for (int i = 0; i < sizes.Length; i++) sizes[i] = Math.Min(size, shape[d] - i * size);
        return Split(sizes, d);
    }

    /// <summary>
    /// Splits into pieces with the given sizes along dim: views, recorded as one op with several outputs,
    /// whose backward concatenates the pieces' gradients (zeros for a piece no gradient reached) in one copy.
    /// </summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = Dim(dim, "split");
        if (sizes.Any(s => s < 0)) throw new ArgumentException($"split: sizes {ShapeUtil.Str(sizes)} must not be negative (tensor{NameSuffix} of shape {ShapeStr}).");
        if (sizes.Sum() != shape[d]) throw new ArgumentException($"split: sizes {ShapeUtil.Str(sizes)} do not add up to dimension {d} of size {shape[d]}.");
        var parts = new Tensor[sizes.Length];
        for (int i = 0, s = 0; i < sizes.Length; s += sizes[i], i++) parts[i] = NarrowNoGrad(d, s, sizes[i]);
        if (DType == DType.Int32) return parts;
        var x = this;
        sizes = (int[])sizes.Clone();   // the backward closure must not see later edits by the caller
        return Autograd.RecordMulti("split", parts, [x], gs =>
        {
            var pieces = new Tensor[gs.Length];
            for (int i = 0; i < gs.Length; i++)
            {
                if (gs[i] is { } g) { pieces[i] = g; continue; }
                var ps = (int[])x.shape.Clone(); ps[d] = sizes[i];
                pieces[i] = Full(ps, 0f, x.Device);
            }
            return [Cat(pieces, d)];
        });
    }

    /// <summary>The slices along dim with that dimension removed (torch.unbind): views, with one backward that stacks their gradients.</summary>
    public Tensor[] Unbind(int dim = 0)
    {
        int d = Dim(dim, "unbind");
        var pieces = Split(Enumerable.Repeat(1, shape[d]).ToArray(), d);
        for (int i = 0; i < pieces.Length; i++) pieces[i] = pieces[i].Squeeze(d);
        return pieces;
    }

    /// <summary>Splits into <paramref name="chunks"/> nearly equal pieces along dim (as torch.chunk).</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        int d = Dim(dim, "chunk");
        if (chunks <= 0) throw new ArgumentException($"chunk: chunks must be positive, got {chunks}.");
        return Split((shape[d] + chunks - 1) / chunks, d);
    }

    // ───────────────────── padding and concatenation (copies) ─────────────────────

    /// <summary>Constant padding: before[d] and after[d] elements on each side of each dimension. Backward narrows.</summary>
    public Tensor PadDims(int[] before, int[] after, float value = 0f)
    {
        CheckFloat("pad");
        if (before.Length != Rank || after.Length != Rank) throw new ArgumentException($"pad: padding for {before.Length} dims given for tensor of shape {ShapeStr}.");
        before = (int[])before.Clone(); after = (int[])after.Clone(); // the backward closure must not see later edits by the caller
        var ns = new int[Rank];
        for (int d = 0; d < Rank; d++)
        {
            if (before[d] < 0 || after[d] < 0) throw new ArgumentException($"pad: negative padding on dimension {d}.");
            ns[d] = shape[d] + before[d] + after[d];
        }
        var y = Full(ns, value, Device);
        var region = y;
        for (int d = 0; d < Rank; d++) region = region.NarrowNoGrad(d, before[d], shape[d]);
        StridedCopy.Copy(this, region);
        var x = this;
        return Autograd.Record("pad", y, [x], g =>
        {
            var r = g;
            for (int d = 0; d < x.Rank; d++) if (before[d] != 0 || after[d] != 0) r = r.Narrow(d, before[d], x.shape[d]);
            return [r];
        });
    }

    internal Tensor NarrowNoGrad(int d, int start, int length)
    {
        var ns = (int[])shape.Clone(); ns[d] = length;
        return new Tensor(Storage, ns, strides, offset + start * strides[d]);
    }

    /// <summary>Concatenates along an existing dimension. Backward splits the gradient.</summary>
    public static Tensor Cat(Tensor[] tensors, int dim = 0)
    {
        if (tensors.Length == 0) throw new ArgumentException("cat: no tensors given.");
        var first = tensors[0];
        int d = first.Dim(dim, "cat");
        var ns = (int[])first.shape.Clone();
        ns[d] = 0;
        foreach (var t in tensors)
        {
            if (t.Rank != first.Rank) throw new ArgumentException($"cat: tensor of shape {t.ShapeStr} has rank {t.Rank}, expected {first.Rank} like {first.ShapeStr}.");
            if (t.DType != first.DType) throw new ArgumentException($"cat: mixed dtypes {first.DType} and {t.DType}.");
            CheckSameDevice("cat", first, t);
            for (int k = 0; k < t.Rank; k++)
                if (k != d && t.shape[k] != first.shape[k])
                    throw new ArgumentException($"cat: shapes {first.ShapeStr} and {t.ShapeStr} differ outside dimension {d}.");
            ns[d] += t.shape[d];
        }
        var y = Empty(ns, first.DType, first.Device);
        int at = 0;
        foreach (var t in tensors)
        {
            var region = y.NarrowNoGrad(d, at, t.shape[d]);
            if (t.DType == DType.Int32 && y.Storage is GpuStorage) StridedCopy.Copy(t, region);
            else if (t.DType == DType.Int32)
            {
                var c = t.ContiguousNoGrad();
                // Int copy through a float view would reinterpret bits; do it element-wise instead.
                var src = c.ToIntArray(); var idx = new int[t.Rank];
                for (int i = 0; i < src.Length; i++)
                {
                    int p = region.offset;
                    for (int k = 0; k < t.Rank; k++) p += idx[k] * region.strides[k];
                    y.IntData[p] = src[i];
                    for (int k = t.Rank - 1; k >= 0; k--) { if (++idx[k] < t.shape[k]) break; idx[k] = 0; }
                }
            }
            else StridedCopy.Copy(t, region);
            at += t.shape[d];
        }
        if (first.DType == DType.Int32) return y;
        var sizes = tensors.Select(t => t.shape[d]).ToArray();
        return Autograd.Record("cat", y, tensors, g => g.Split(sizes, d));
    }

    /// <summary>Stacks along a new dimension.</summary>
    public static Tensor Stack(Tensor[] tensors, int dim = 0)
    {
        if (tensors.Length == 0) throw new ArgumentException("stack: no tensors given.");
        foreach (var t in tensors)
            if (!ShapeUtil.Equal(t.Shape, tensors[0].Shape))
                throw new ArgumentException($"stack: all tensors must have the same shape; got {tensors[0].ShapeStr} and {t.ShapeStr}.");
        return Cat(tensors.Select(t => t.Unsqueeze(dim)).ToArray(), dim);
    }
}
