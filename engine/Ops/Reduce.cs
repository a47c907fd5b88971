// Reductions over any set of axes, with keepdim. Sum is the primitive: mean, SumTo (the reverse of
// broadcasting) and the backward rules of expand and every broadcasting binary op are built on it.
// Sum's backward is an Expand of the gradient back to the input shape.
using System.Numerics.Tensors;

namespace Denoise;

public sealed partial class Tensor
{
    /// <summary>Sum of all elements (a 0-d tensor).</summary>
    public Tensor Sum() => Sum(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>Sum over <paramref name="dims"/>; keepDim leaves them as size 1.</summary>
    public Tensor Sum(int[] dims, bool keepDim = false)
    {
        CheckFloat("sum");
        var reduce = ReduceMask(dims, "sum");
        var keptShape = new int[Rank];
        for (int d = 0; d < Rank; d++) keptShape[d] = reduce[d] ? 1 : shape[d];
        var y = SumKernel(this, reduce, keptShape);
        var outShape = keepDim ? keptShape : keptShape.Where((_, d) => !reduce[d]).ToArray();
        y = new Tensor(y.Storage, outShape, null, y.offset);
        var x = this;
        return Autograd.Record("sum", y, [x], g => [g.Reshape(keptShape).Expand(x.shape)]);
    }

    /// <summary>Mean over all elements.</summary>
    public Tensor Mean() => Sum() * (1f / Math.Max(1, Numel));

    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    public Tensor Mean(int[] dims, bool keepDim = false)
    {
        var reduce = ReduceMask(dims, "mean");
        int n = 1;
        for (int d = 0; d < Rank; d++) if (reduce[d]) n *= shape[d];
        return Sum(dims, keepDim) * (1f / Math.Max(1, n));
    }

    /// <summary>
    /// Sums a broadcast result back to <paramref name="target"/> (the gradient of broadcasting):
    /// leading extra dims and dims where the target is 1 are summed away.
    /// </summary>
    public Tensor SumTo(ReadOnlySpan<int> target)
    {
        if (ShapeUtil.Equal(Shape, target)) return this;
        int lead = Rank - target.Length;
        if (lead < 0) throw new ArgumentException($"SumTo: cannot reduce shape {ShapeStr} to the larger rank {ShapeUtil.Str(target)}.");
        var dims = new List<int>();
        for (int d = 0; d < Rank; d++)
        {
            if (d < lead) { dims.Add(d); continue; }
            int t = target[d - lead];
            if (t == 1 && shape[d] != 1) dims.Add(d);
            else if (t != shape[d]) throw new ArgumentException($"SumTo: shape {ShapeStr} does not broadcast from {ShapeUtil.Str(target)}.");
        }
        var s = dims.Count == 0 ? this : Sum(dims.ToArray(), keepDim: true);
        return s.Reshape(target.ToArray());
    }

    internal bool[] ReduceMask(int[] dims, string op)
    {
        var mask = new bool[Rank];
        foreach (var dim in dims)
        {
            int d = Dim(dim, op);
            if (mask[d]) throw new ArgumentException($"{op}: dimension {dim} listed twice.");
            mask[d] = true;
        }
        return mask;
    }

    /// <summary>Sum kernel: result is a contiguous tensor of keptShape.</summary>
    static Tensor SumKernel(Tensor x, bool[] reduce, int[] keptShape)
    {
        var y = Empty(keptShape, DType.Float32, x.Device);
        if (y.Storage is GpuStorage) { GpuOps.Sum(x, reduce, y); return y; }
        var ys = y.Span;
        if (x.Numel == 0) { ys.Clear(); return y; }
        int r = x.Rank;
        int firstReduced = Array.IndexOf(reduce, true), lastKept = Array.LastIndexOf(reduce, false);
        if (firstReduced < 0) { StridedCopy.Copy(x, y); return y; }

        if (x.IsContiguous && lastKept < firstReduced)
        {
            // Reduced axes are trailing: y[i] = Σ row i.
            int inner = x.Numel / Math.Max(1, y.Numel);
            Denoise.Kernels.Cpu.RowSums.Run(x.Span, ys, inner);   // rows split over the pool when large
            return y;
        }
        int lastReduced = Array.LastIndexOf(reduce, true), firstKept = Array.IndexOf(reduce, false);
        if (x.IsContiguous && lastReduced < firstKept)
        {
            // Reduced axes are leading (bias gradients): y = Σ rows, each row a SIMD add.
            int inner = ys.Length, rows = x.Numel / inner;
            var xs = x.Span;
            xs.Slice(0, inner).CopyTo(ys);
            for (int i = 1; i < rows; i++) TensorPrimitives.Add(ys, xs.Slice(i * inner, inner), ys);
            return y;
        }
        if (x.IsContiguous && Enumerable.Range(firstKept, lastKept - firstKept + 1).All(d => !reduce[d]))
        {
            // Reduced axes lead and trail one kept block (conv bias gradients, (N, C, H, W) → C):
            // y[m] = Σ_o Σ_i x[o, m, i], a SIMD row sum per (o, m), o outermost (a fixed order).
            int mid = ys.Length, inner = 1, outer = 1;
            for (int d = 0; d < firstKept; d++) outer *= x.shape[d];
            for (int d = lastKept + 1; d < r; d++) inner *= x.shape[d];
            var xs = x.Span;
            ys.Clear();
            for (int o = 0; o < outer; o++)
                for (int m = 0; m < mid; m++)
                    ys[m] += TensorPrimitives.Sum(xs.Slice((o * mid + m) * inner, inner));
            return y;
        }
        // General case: move the reduced axes last, copy, then row sums.
        var perm = Enumerable.Range(0, r).Where(d => !reduce[d]).Concat(Enumerable.Range(0, r).Where(d => reduce[d])).ToArray();
        var p = new Tensor(x.Storage, perm.Select(d => x.shape[d]).ToArray(), perm.Select(d => x.strides[d]).ToArray(), x.offset);
        var c = p.ContiguousCopy();
        var cs = c.Span;
        int n = c.Numel / Math.Max(1, ys.Length);
        for (int i = 0; i < ys.Length; i++) ys[i] = TensorPrimitives.Sum(cs.Slice(i * n, n));
        return y;
    }
}

public sealed partial class Tensor
{
    /// <summary>Moves the reduced dims last and returns (contiguous copy or view, rows, rowLength, keptShape).</summary>
    (Tensor rows, int count, int length, int[] keptShape) ReduceRows(int[] dims, string op)
    {
        var reduce = ReduceMask(dims, op);
        var keptShape = new int[Rank];
        for (int d = 0; d < Rank; d++) keptShape[d] = reduce[d] ? 1 : shape[d];
        var perm = Enumerable.Range(0, Rank).Where(d => !reduce[d]).Concat(Enumerable.Range(0, Rank).Where(d => reduce[d])).ToArray();
        var p = new Tensor(Storage, perm.Select(d => shape[d]).ToArray(), perm.Select(d => strides[d]).ToArray(), offset);
        var c = p.ContiguousNoGrad();
        int count = ShapeUtil.Numel(keptShape);
        int length = count == 0 ? 0 : Numel / count;
        if (length == 0 && count > 0) throw new ArgumentException($"{op}: cannot reduce over an empty dimension of tensor{NameSuffix} with shape {ShapeStr}.");
        return (c, count, length, keptShape);
    }

    Tensor MaxMin(int[] dims, bool keepDim, bool max)
    {
        string op = max ? "max" : "min";
        CheckFloat(op);
        var (rows, count, length, keptShape) = ReduceRows(dims, op);
        var y = Empty(keptShape, DType.Float32, Device);
        if (y.Storage is GpuStorage && count > 0) GpuOps.RowMaxMin(rows, y, count, length, max);
        else
        {
            var ys = y.Span; var rs = rows.Span;
            for (int i = 0; i < count; i++)
            {
                var row = rs.Slice(i * length, length);
                ys[i] = max ? System.Numerics.Tensors.TensorPrimitives.Max(row) : System.Numerics.Tensors.TensorPrimitives.Min(row);
            }
        }
        var x = this;
        var reduce = ReduceMask(dims, op);
        var outShape = keepDim ? keptShape : keptShape.Where((_, d) => !reduce[d]).ToArray();
        var result = new Tensor(y.Storage, outShape, null, y.offset);
        // The gradient goes to the positions equal to the extreme, split evenly between ties
        // (PyTorch's rule for full reductions; for a single dim it picks one index — both are valid subgradients).
        return Autograd.Record(op, result, [x], g =>
        {
            var mask = x.Eq(y);
            var share = mask / mask.Sum(dims, keepDim: true);
            return [g.Reshape(keptShape) * share];
        });
    }

    /// <summary>Maximum over all elements.</summary>
    public Tensor Max() => MaxMin(Enumerable.Range(0, Rank).ToArray(), false, true);
    public Tensor Max(int dim, bool keepDim = false) => MaxMin([dim], keepDim, true);
    public Tensor Max(int[] dims, bool keepDim = false) => MaxMin(dims, keepDim, true);
    public Tensor Min() => MaxMin(Enumerable.Range(0, Rank).ToArray(), false, false);
    public Tensor Min(int dim, bool keepDim = false) => MaxMin([dim], keepDim, false);
    public Tensor Min(int[] dims, bool keepDim = false) => MaxMin(dims, keepDim, false);

    /// <summary>Index of the maximum along <paramref name="dim"/> (first one on ties), as an Int32 tensor.</summary>
    public Tensor Argmax(int dim, bool keepDim = false) => ArgExtreme(dim, keepDim, true);
    public Tensor Argmin(int dim, bool keepDim = false) => ArgExtreme(dim, keepDim, false);

    Tensor ArgExtreme(int dim, bool keepDim, bool max)
    {
        string op = max ? "argmax" : "argmin";
        CheckFloat(op);
        int d = Dim(dim, op);
        var (rows, count, length, keptShape) = ReduceRows([d], op);
        var y = Empty(keptShape, DType.Int32, Device);
        if (y.Storage is GpuStorage)
        {
            if (count > 0) GpuOps.ArgExtreme(rows, y, count, length, max);
            return keepDim ? y : y.Squeeze(d);
        }
        var ys = y.IntSpan; var rs = rows.Span;
        for (int i = 0; i < count; i++)
        {
            var row = rs.Slice(i * length, length);
            int best = 0;
            for (int j = 1; j < length; j++)
                if (max ? row[j] > row[best] : row[j] < row[best]) best = j;
            ys[i] = best;
        }
        return keepDim ? y : y.Squeeze(d);
    }

    /// <summary>log Σ exp(x) over dim, stably: m + log Σ exp(x − m) with m = max (detached; the result does not depend on m).</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false)
    {
        var m = Detach().Max(dim, keepDim: true);
        m = Where(m.Abs().Lt(float.PositiveInfinity), m, Scalar(0f)); // all −∞ rows: avoid ∞ − ∞
        var r = (this - m).Exp().Sum(dim, keepDim: true).Log() + m;
        return keepDim ? r : r.Squeeze(Dim(dim, "logsumexp"));
    }

    /// <summary>softmax along dim: exp(x − max) / Σ exp(x − max). One fused kernel (kernels/Cpu/Norm/Softmax.cs;
    /// kernels/Gpu/Norm/Softmax.cs for GPU tensors) when dim is the innermost non-trivial axis, else composed of differentiable ops.</summary>
    public Tensor Softmax(int dim) => SoftmaxFused(dim, log: false) ?? SoftmaxComposed(dim);

    /// <summary>log_softmax along dim: x − logsumexp(x). Fused as <see cref="Softmax"/>.</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxFused(dim, log: true) ?? LogSoftmaxComposed(dim);

    /// <summary>The compositions the fused kernels are tested against.</summary>
    internal Tensor SoftmaxComposed(int dim)
    {
        var e = (this - Detach().Max(dim, keepDim: true)).Exp();
        return e / e.Sum(dim, keepDim: true);
    }

    internal Tensor LogSoftmaxComposed(int dim) => this - LogSumExp(dim, keepDim: true);

    /// <summary>
    /// [log-]softmax over rows of the last non-trivial axis, or null when dim is not that axis (then the
    /// caller composes it). First-order backward runs the fused kernel from the saved output y; under
    /// create-graph (recording enabled inside the backward) the same rule is built from differentiable ops,
    /// y·(g − Σg·y) or g − e^y·Σg, so second order differentiates through y.
    /// </summary>
    Tensor? SoftmaxFused(int dim, bool log)
    {
        string op = log ? "log_softmax" : "softmax";
        CheckFloat(op);
        int d = Dim(dim, op);
        for (int i = d + 1; i < Rank; i++)
            if (shape[i] != 1) return null;
        int L = shape[d];
        if (L == 0 || Numel == 0) return null;
        var x = this;
        var xc = ContiguousNoGrad();
        var y = Empty(shape, DType.Float32, Device);
        if (y.Storage is GpuStorage) GpuOps.SoftmaxForward(xc, y, L, log);   // kernels/Gpu/Norm/Softmax.cs
        else Denoise.Kernels.Cpu.Softmax.Forward(xc.Span, y.Span, L, log);
        return Autograd.Record(op, y, [x], g =>
        {
            if (Autograd.IsEnabled)
                return [log ? g - y.Exp() * g.Sum(d, keepDim: true) : y * (g - (g * y).Sum(d, keepDim: true))];
            var gc = g.ContiguousNoGrad();
            var dx = Empty(shape, DType.Float32, Device);
            if (dx.Storage is GpuStorage) GpuOps.SoftmaxBackward(y, gc, dx, L, log);
            else Denoise.Kernels.Cpu.Softmax.Backward(y.Span, gc.Span, dx.Span, L, log);
            return [dx];
        });
    }
}
