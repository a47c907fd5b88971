// More reductions and scans: variance / standard deviation, L2 norm, cumulative sum and product.
//
// Var and Std are composed from differentiable ops (mean, subtract, square, sum, scale), so their
// gradients of any order come for free. Norm carries its own rule only to give 0 (not NaN) at x = 0.
// The scans run one kernel over the contiguous layout (outer, n, inner), n the scanned axis, so each
// step k is a SIMD row op over `inner` elements: y[k] = y[k−1] ∘ x[k].
//
//   cumsum   y_k = Σ_{i≤k} x_i         dx = reverse cumsum of g (its own op; its backward is cumsum)
//   cumprod  y_k = Π_{i≤k} x_i         dx_k = E_{k−1}·S_k  (E = exclusive cumprod, S below) — no division,
//                                      so exact when x has zeros
//   scan     y_k = g_k + a_k·y_{k∓1}   the linear recurrence behind S; its adjoint is the scan the other way
//
// The cumprod rule: dL/dx_k = Σ_{j≥k} g_j·Π_{i≤j, i≠k} x_i = E_{k−1}·S_k with S_k = g_k + x_{k+1}·S_{k+1},
// S_{n−1} = g_{n−1} (Σ_{j≥k} g_j·Π_{k<i≤j} x_i, unrolled one step). Every piece is a recorded op whose
// backward is again made of recorded ops, so cumprod is differentiable to any order.
//
// On a GPU device the three scans are kernels/Gpu/Scan.cs (same operations, same order).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~ReduceMoreTests"
using System.Numerics.Tensors;

namespace Denoise;

public sealed partial class Tensor
{
    // ───────────────────── variance, standard deviation, norm ─────────────────────

    /// <summary>
    /// Variance over <paramref name="dims"/>: Σ(x − mean)² / (n − 1) when unbiased (Bessel's correction),
    /// else / n. As PyTorch, an unbiased variance over a single element is NaN.
    /// </summary>
    public Tensor Var(int[] dims, bool unbiased = true, bool keepDim = false)
    {
        CheckFloat("var");
        var reduce = ReduceMask(dims, "var");
        int n = 1;
        for (int d = 0; d < Rank; d++) if (reduce[d]) n *= shape[d];
        var centred = this - Mean(dims, keepDim: true);
        var ss = (centred * centred).Sum(dims, keepDim);
        int denom = unbiased ? n - 1 : n;
        return denom > 0 ? ss * (1f / denom) : ss * float.NaN;
    }

    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);

    /// <summary>Variance of all elements (a 0-d tensor).</summary>
    public Tensor Var(bool unbiased = true) => Var(Enumerable.Range(0, Rank).ToArray(), unbiased, keepDim: false);

    /// <summary>√Var. Its gradient is infinite where the variance is 0 (as in PyTorch).</summary>
    public Tensor Std(int[] dims, bool unbiased = true, bool keepDim = false) => Var(dims, unbiased, keepDim).Sqrt();
    public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim).Sqrt();
    public Tensor Std(bool unbiased = true) => Var(unbiased).Sqrt();

    /// <summary>L2 norm of all elements, √Σx².</summary>
    public Tensor Norm() => Norm(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    public Tensor Norm(int dim, bool keepDim = false) => Norm([dim], keepDim);

    /// <summary>
    /// L2 norm over <paramref name="dims"/>. d‖x‖/dx = x/‖x‖, taken as 0 where ‖x‖ = 0 (PyTorch's
    /// subgradient) — composing sqrt(sum(x²)) would give 0·∞ = NaN there.
    /// </summary>
    public Tensor Norm(int[] dims, bool keepDim = false)
    {
        CheckFloat("norm");
        var reduce = ReduceMask(dims, "norm");
        var keptShape = new int[Rank];
        for (int d = 0; d < Rank; d++) keptShape[d] = reduce[d] ? 1 : shape[d];
        Tensor y;
        using (Autograd.NoGrad()) y = (this * this).Sum(dims, keepDim).Sqrt();
        var x = this;
        return Autograd.Record("norm", y, [x], g =>
        {
            var yk = y.Reshape(keptShape);
            var safe = Where(yk.Eq(0f), 1f, yk);
            return [g.Reshape(keptShape) * x / safe];
        });
    }

    // ───────────────────── scans ─────────────────────

    /// <summary>Cumulative sum along <paramref name="dim"/>: y_k = Σ_{i≤k} x_i.</summary>
    public Tensor CumSum(int dim)
    {
        CheckFloat("cumsum");
        int d = Dim(dim, "cumsum");
        var y = ScanKernel.Sum(this, d, reverse: false);
        return Autograd.Record("cumsum", y, [this], g => [g.CumSumReverse(d)]);
    }

    /// <summary>Reverse cumulative sum y_k = Σ_{i≥k} x_i: cumsum's backward, whose own backward is cumsum.</summary>
    internal Tensor CumSumReverse(int dim)
    {
        int d = Dim(dim, "cumsum_reverse");
        var y = ScanKernel.Sum(this, d, reverse: true);
        return Autograd.Record("cumsum_reverse", y, [this], g => [g.CumSum(d)]);
    }

    /// <summary>
    /// Cumulative product along <paramref name="dim"/>: y_k = Π_{i≤k} x_i. The gradient uses no
    /// division (exact with zeros in x) and is differentiable to any order; see the file header.
    /// </summary>
    public Tensor CumProd(int dim)
    {
        CheckFloat("cumprod");
        int d = Dim(dim, "cumprod");
        var y = ScanKernel.Prod(this, d);
        var x = this;
        return Autograd.Record("cumprod", y, [x], g =>
        {
            int n = x.shape[d];
            if (n == 0) return [g];
            // (Fresh pad arrays per call: PadDims's backward keeps a reference to them.)
            int[] One() { var a = new int[x.Rank]; a[d] = 1; return a; }
            // E_{k−1} = Π_{i<k} x_i: cumprod of x shifted one step right with a leading 1.
            var exclusive = x.Narrow(d, 0, n - 1).PadDims(One(), new int[x.Rank], 1f).CumProd(d);
            // a_k = x_{k+1} (0 past the end, where S has no successor).
            var next = x.Narrow(d, 1, n - 1).PadDims(new int[x.Rank], One(), 0f);
            var s = LinearScan(g, next, d, reverse: true);
            return [exclusive * s];
        });
    }

    /// <summary>
    /// The linear recurrence y_k = g_k + a_k·y_{k+1} (reverse, y_{n−1} = g_{n−1}) or y_k = g_k + a_k·y_{k−1}
    /// (forward, y_0 = g_0), along dim; g and a have the same shape. Differentiable in both g and a.
    /// Adjoint of the reverse scan with upstream h: λ_k = h_k + a_{k−1}·λ_{k−1} (a forward scan with a
    /// shifted one step right) and dL/da_k = λ_k·y_{k+1}; the forward scan mirrors it.
    /// </summary>
    internal static Tensor LinearScan(Tensor g, Tensor a, int dim, bool reverse)
    {
        g.CheckFloat("linear_scan"); a.CheckFloat("linear_scan");
        if (!ShapeUtil.Equal(g.Shape, a.Shape))
            throw new ArgumentException($"linear_scan: values of shape {g.ShapeStr} and coefficients of shape {a.ShapeStr} must match.");
        int d = g.Dim(dim, "linear_scan");
        var y = ScanKernel.Linear(g, a, d, reverse);
        return Autograd.Record(reverse ? "linear_scan_reverse" : "linear_scan", y, [g, a], h =>
        {
            int n = g.shape[d];
            if (n == 0) return [h, a.RequiresGrad ? ZerosLike(a) : null];
            // Shift one step towards the scan's start (reverse: right), filling with `fill`.
            Tensor Shift(Tensor t, bool right, float fill)
            {
                var before = new int[t.Rank]; var after = new int[t.Rank];
                if (right) { before[d] = 1; return t.Narrow(d, 0, n - 1).PadDims(before, after, fill); }
                after[d] = 1; return t.Narrow(d, 1, n - 1).PadDims(before, after, fill);
            }
            var lambda = LinearScan(h, Shift(a, right: reverse, 0f), d, !reverse);
            Tensor? da = a.RequiresGrad ? lambda * Shift(y, right: !reverse, 0f) : null;
            return [g.RequiresGrad ? lambda : null, da];
        });
    }
}

/// <summary>Scan kernels over the contiguous layout (outer, n, inner); each step is one SIMD row op.</summary>
internal static class ScanKernel
{
    static (int outer, int n, int inner) Layout(Tensor x, int d)
    {
        int outer = 1, inner = 1;
        for (int k = 0; k < d; k++) outer *= x.shape[k];
        for (int k = d + 1; k < x.Rank; k++) inner *= x.shape[k];
        return (outer, x.shape[d], inner);
    }

    /// <summary>The same scan as one GPU kernel (kernels/Gpu/Scan.cs: one thread per line, the CPU's order of operations).</summary>
    static Tensor? OnDevice(Tensor x, Tensor? a, int d, Kernels.Gpu.ScanOp op, bool reverse)
    {
        if (x.Storage is not GpuStorage) return null;
        var y = Tensor.Empty(x.shape, DType.Float32, x.Device);
        var (outer, n, inner) = Layout(x, d);
        GpuOps.Scan(x.ContiguousNoGrad(), a?.ContiguousNoGrad(), y, new Kernels.Gpu.ScanShape(outer, n, inner, op, reverse));
        return y;
    }

    /// <summary>y_k = y_{k∓1} + x_k.</summary>
    public static Tensor Sum(Tensor x, int d, bool reverse)
    {
        if (OnDevice(x, null, d, Kernels.Gpu.ScanOp.Sum, reverse) is { } yd) return yd;
        var y = Tensor.Empty(x.shape, DType.Float32, x.Device);
        var xs = x.ContiguousNoGrad().Span; var ys = y.Span;
        var (outer, n, inner) = Layout(x, d);
        for (int o = 0; o < outer; o++)
        {
            int baseAt = o * n * inner;
            for (int step = 0; step < n; step++)
            {
                int k = reverse ? n - 1 - step : step;
                var row = ys.Slice(baseAt + k * inner, inner);
                var src = xs.Slice(baseAt + k * inner, inner);
                if (step == 0) src.CopyTo(row);
                else TensorPrimitives.Add(ys.Slice(baseAt + (reverse ? k + 1 : k - 1) * inner, inner), src, row);
            }
        }
        return y;
    }

    /// <summary>y_k = y_{k−1} · x_k.</summary>
    public static Tensor Prod(Tensor x, int d)
    {
        if (OnDevice(x, null, d, Kernels.Gpu.ScanOp.Prod, reverse: false) is { } yd) return yd;
        var y = Tensor.Empty(x.shape, DType.Float32, x.Device);
        var xs = x.ContiguousNoGrad().Span; var ys = y.Span;
        var (outer, n, inner) = Layout(x, d);
        for (int o = 0; o < outer; o++)
        {
            int baseAt = o * n * inner;
            if (n > 0) xs.Slice(baseAt, inner).CopyTo(ys.Slice(baseAt, inner));
            for (int k = 1; k < n; k++)
                TensorPrimitives.Multiply(ys.Slice(baseAt + (k - 1) * inner, inner), xs.Slice(baseAt + k * inner, inner), ys.Slice(baseAt + k * inner, inner));
        }
        return y;
    }

    /// <summary>y_k = g_k + a_k · y_{k∓1} (the first step of the scan is y = g).</summary>
    public static Tensor Linear(Tensor g, Tensor a, int d, bool reverse)
    {
        if (OnDevice(g, a, d, Kernels.Gpu.ScanOp.Linear, reverse) is { } yd) return yd;
        var y = Tensor.Empty(g.shape, DType.Float32, g.Device);
        var gs = g.ContiguousNoGrad().Span; var asp = a.ContiguousNoGrad().Span; var ys = y.Span;
        var (outer, n, inner) = Layout(g, d);
        for (int o = 0; o < outer; o++)
        {
            int baseAt = o * n * inner;
            for (int step = 0; step < n; step++)
            {
                int k = reverse ? n - 1 - step : step;
                var row = ys.Slice(baseAt + k * inner, inner);
                var gk = gs.Slice(baseAt + k * inner, inner);
                if (step == 0) gk.CopyTo(row);
                else TensorPrimitives.FusedMultiplyAdd(asp.Slice(baseAt + k * inner, inner),
                    ys.Slice(baseAt + (reverse ? k + 1 : k - 1) * inner, inner), gk, row);
            }
        }
        return y;
    }
}
