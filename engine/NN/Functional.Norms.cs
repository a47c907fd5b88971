// Functional.Norms.cs — fused GroupNorm (+SiLU), LayerNorm and training-mode BatchNorm, each one recorded
// op over the span kernels in kernels/Cpu/Norm/ (GroupNorm: Wu & He 2018; LayerNorm: Ba et al. 2016;
// BatchNorm: Ioffe & Szegedy 2015; the closed-form backwards are derived in those kernel files).
//
// First-order backward runs the fused kernel. Under create-graph (the backward closure runs with
// recording enabled exactly then) it builds the same closed form from differentiable tensor ops
// instead, so gradient penalties differentiate through it; GroupNormComposed (the original
// composition of mean/sub/mul/rsqrt in Functional.Layers.cs) stays as the reference in tests, as does
// BatchNormComposed.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"
using Denoise.Kernels.Cpu;
using GroupNormKernel = Denoise.Kernels.Cpu.GroupNorm;
using BatchNormKernel = Denoise.Kernels.Cpu.BatchNorm;
using LayerNormKernel = Denoise.Kernels.Cpu.LayerNorm;

namespace Denoise;

public static partial class F
{
    /// <summary>silu(GroupNorm(x)) in one fused kernel (the UNet ResBlock's GroupNorm → SiLU pair).</summary>
    public static Tensor GroupNormSiLU(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        CheckGroupNorm(x, groups, weight, bias);
        return GroupNormFused(x, groups, weight, bias, eps, silu: true);
    }

    static void CheckGroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias)
    {
        if (x.Rank < 2) throw new ArgumentException($"group_norm: input{x.NameSuffix} must be (N, C, …), got {x.ShapeStr}.");
        x.CheckFloat("group_norm");
        int C = x.Shape[1];
        if (groups <= 0 || C % groups != 0)
            throw new ArgumentException($"group_norm: {C} channels of input {x.ShapeStr} are not divisible into {groups} groups.");
        CheckAffine("group_norm", weight, [C]);
        CheckAffine("group_norm", bias, [C]);
    }

    /// <summary>[silu](GroupNorm(x)) with the fused forward and (first-order) fused backward.</summary>
    internal static Tensor GroupNormFused(Tensor x, int groups, Tensor? w, Tensor? b, float eps, bool silu)
    {
        int N = x.Shape[0], C = x.Shape[1], S = N * C == 0 ? 0 : x.Numel / (N * C);
        var s = new GroupNormShape(N, C, S, groups, eps, silu);
        var xc = x.ContiguousNoGrad();
        var wc = w?.ContiguousNoGrad(); var bc = b?.ContiguousNoGrad();
        var y = Tensor.Empty(x.Shape.ToArray(), DType.Float32, x.Device);
        var mean = Tensor.Empty([N * groups], DType.Float32, x.Device); var rstd = Tensor.Empty([N * groups], DType.Float32, x.Device);
        if (y.Storage is GpuStorage) GpuOps.GroupNormForward(xc, wc, bc, y, mean, rstd, s);
        else GroupNormKernel.Forward(xc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span, y.Span, mean.Span, rstd.Span, s);

        var inputs = new List<Tensor> { x };
        if (w != null) inputs.Add(w);
        if (b != null) inputs.Add(b);
        return Autograd.Record(silu ? "group_norm_silu" : "group_norm", y, inputs.ToArray(), g =>
        {
            var (dx, dw, db) = Autograd.IsEnabled
                ? GroupNormBackwardComposed(g, x, groups, w, b, eps, silu)
                : GroupNormBackwardFused(g, xc, wc, bc, mean, rstd, s, w?.RequiresGrad == true, b?.RequiresGrad == true);
            var grads = new List<Tensor?> { x.RequiresGrad ? dx : null };
            if (w != null) grads.Add(dw);
            if (b != null) grads.Add(db);
            return grads.ToArray();
        });
    }

    static (Tensor Dx, Tensor? Dw, Tensor? Db) GroupNormBackwardFused(Tensor g, Tensor xc, Tensor? wc, Tensor? bc,
        Tensor mean, Tensor rstd, GroupNormShape s, bool wantW, bool wantB)
    {
        var gc = g.ContiguousNoGrad();
        var dx = Tensor.Empty(xc.Shape.ToArray(), DType.Float32, xc.Device);
        var dw = wantW ? Tensor.Empty([s.C], DType.Float32, xc.Device) : null;
        var db = wantB ? Tensor.Empty([s.C], DType.Float32, xc.Device) : null;
        if (dx.Storage is GpuStorage) { GpuOps.GroupNormBackward(xc, gc, wc, bc, mean, rstd, dx, dw, db, s); return (dx, dw, db); }
        GroupNormKernel.Backward(xc.Span, gc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span,
            mean.Span, rstd.Span, dx.Span, dw == null ? default : dw.Span, db == null ? default : db.Span, s);
        return (dx, dw, db);
    }

    /// <summary>
    /// Training-mode BatchNorm, γ·x̂ + β with the batch statistics, as one recorded op over the span kernels
    /// in kernels/Cpu/Norm/BatchNorm.cs. Returns y and the batch mean and biased variance (C each, not
    /// recorded) for the running statistics. Backward as GroupNormFused: the fused kernel, or under
    /// create-graph the same closed form in differentiable ops.
    /// </summary>
    internal static (Tensor Y, Tensor Mean, Tensor Var) BatchNormFused(Tensor x, Tensor? w, Tensor? b, float eps)
    {
        x.CheckFloat("batch_norm");
        int N = x.Shape[0], C = x.Shape[1], S = x.Numel / (N * C);
        var s = new BatchNormShape(N, C, S, eps);
        var xc = x.ContiguousNoGrad();
        var wc = w?.ContiguousNoGrad(); var bc = b?.ContiguousNoGrad();
        var y = Tensor.Empty(x.Shape.ToArray());
        var mean = Tensor.Empty([C]); var var = Tensor.Empty([C]); var rstd = Tensor.Empty([C]);
        BatchNormKernel.Forward(xc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span, y.Span,
            mean.Span, var.Span, rstd.Span, s);

        var inputs = new List<Tensor> { x };
        if (w != null) inputs.Add(w);
        if (b != null) inputs.Add(b);
        y = Autograd.Record("batch_norm", y, inputs.ToArray(), g =>
        {
            var (dx, dw, db) = Autograd.IsEnabled
                ? BatchNormBackwardComposed(g, x, w, b, eps)
                : BatchNormBackwardFused(g, xc, wc, mean, rstd, s, w?.RequiresGrad == true, b?.RequiresGrad == true);
            var grads = new List<Tensor?> { x.RequiresGrad ? dx : null };
            if (w != null) grads.Add(dw);
            if (b != null) grads.Add(db);
            return grads.ToArray();
        });
        return (y, mean, var);
    }

    static (Tensor Dx, Tensor? Dw, Tensor? Db) BatchNormBackwardFused(Tensor g, Tensor xc, Tensor? wc, Tensor mean, Tensor rstd,
        BatchNormShape s, bool wantW, bool wantB)
    {
        var gc = g.ContiguousNoGrad();
        var dx = Tensor.Empty(xc.Shape.ToArray());
        var dw = wantW ? Tensor.Empty([s.C]) : null;
        var db = wantB ? Tensor.Empty([s.C]) : null;
        BatchNormKernel.Backward(xc.Span, gc.Span, wc == null ? default : wc.Span, mean.Span, rstd.Span,
            dx.Span, dw == null ? default : dw.Span, db == null ? default : db.Span, s);
        return (dx, dw, db);
    }

    /// <summary>BatchNorm's backward closed form in differentiable ops (used under create-graph):
    /// dx = rstd·(γ·g − mean(γ·g) − x̂·mean(γ·g·x̂)) over (N, spatial), dγ = Σ g·x̂, dβ = Σ g.</summary>
    static (Tensor Dx, Tensor? Dw, Tensor? Db) BatchNormBackwardComposed(Tensor g, Tensor x, Tensor? w, Tensor? b, float eps)
    {
        int C = x.Shape[1];
        var perChannel = ChannelShape(x.Rank, C);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        var (xhat, _, var) = Normalize(x, dims, eps);
        var rstd = (var + eps).Rsqrt();
        var dxhat = w != null ? g * w.Reshape(perChannel) : g;
        var dx = rstd * (dxhat - dxhat.Mean(dims, keepDim: true) - xhat * (dxhat * xhat).Mean(dims, keepDim: true));
        Tensor? dw = w != null && w.RequiresGrad ? (g * xhat).Sum(dims) : null;
        Tensor? db = b != null && b.RequiresGrad ? g.Sum(dims) : null;
        return (dx, dw, db);
    }

    /// <summary>The fused backward's closed form in differentiable ops (used under create-graph).</summary>
    static (Tensor Dx, Tensor? Dw, Tensor? Db) GroupNormBackwardComposed(Tensor g, Tensor x, int groups, Tensor? w, Tensor? b,
        float eps, bool silu)
    {
        int N = x.Shape[0], C = x.Shape[1];
        var shape = x.Shape.ToArray();
        var perChannel = ChannelShape(x.Rank, C);                 // (C, 1, …, 1)
        var (xhatG, _, varG) = Normalize(x.Reshape(N, groups, -1), [2], eps);   // (N, G, M)
        var rstd = (varG + eps).Rsqrt();                          // (N, G, 1)
        var xhat = xhatG.Reshape(shape);
        var dh = g;
        if (silu)
        {
            var h = xhat;
            if (w != null) h = h * w.Reshape(perChannel);
            if (b != null) h = h + b.Reshape(perChannel);
            var sg = h.Sigmoid();
            dh = g * (sg * (1f + h * (1f - sg)));                 // silu'(h)
        }
        var dxhat = (w != null ? dh * w.Reshape(perChannel) : dh).Reshape(N, groups, -1);
        var dx = (rstd * (dxhat - dxhat.Mean(2, keepDim: true) - xhatG * (dxhat * xhatG).Mean(2, keepDim: true))).Reshape(shape);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        Tensor? dw = w != null && w.RequiresGrad ? (dh * xhat).Sum(dims) : null;
        Tensor? db = b != null && b.RequiresGrad ? dh.Sum(dims) : null;
        return (dx, dw, db);
    }

    /// <summary>LayerNorm over the trailing <paramref name="normalizedShape"/> with the fused forward and
    /// (first-order) fused backward; shapes already checked by <see cref="LayerNorm(Tensor, int[], Tensor?, Tensor?, float)"/>.</summary>
    static Tensor LayerNormFused(Tensor x, int[] normalizedShape, Tensor? w, Tensor? b, float eps)
    {
        x.CheckFloat("layer_norm");
        int D = ShapeUtil.Numel(normalizedShape), R = D == 0 ? 0 : x.Numel / D;
        if (D == 0) return LayerNormComposed(x, normalizedShape, w, b, eps);   // nothing to normalise: keep the composed semantics
        if (w != null) Tensor.CheckSameDevice("layer_norm", x, w);
        if (b != null) Tensor.CheckSameDevice("layer_norm", x, b);
        var xc = x.ContiguousNoGrad();
        var wc = w?.ContiguousNoGrad(); var bc = b?.ContiguousNoGrad();
        var y = Tensor.Empty(x.Shape.ToArray(), DType.Float32, x.Device);
        var mean = Tensor.Empty([R], DType.Float32, x.Device); var rstd = Tensor.Empty([R], DType.Float32, x.Device);
        if (y.Storage is GpuStorage) GpuOps.LayerNormForward(xc, wc, bc, y, mean, rstd, D, eps);   // kernels/Gpu/Norm/LayerNorm.cs
        else LayerNormKernel.Forward(xc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span, y.Span, mean.Span, rstd.Span, D, eps);

        var inputs = new List<Tensor> { x };
        if (w != null) inputs.Add(w);
        if (b != null) inputs.Add(b);
        return Autograd.Record("layer_norm", y, inputs.ToArray(), g =>
        {
            Tensor? dx, dw, db;
            if (Autograd.IsEnabled)
                (dx, dw, db) = LayerNormBackwardComposed(g, x, normalizedShape.Length, w, b, eps);   // create-graph
            else
            {
                var gc = g.ContiguousNoGrad();
                dx = Tensor.Empty(xc.Shape.ToArray(), DType.Float32, x.Device);
                dw = w?.RequiresGrad == true ? Tensor.Empty(w.Shape.ToArray(), DType.Float32, x.Device) : null;
                db = b?.RequiresGrad == true ? Tensor.Empty(b.Shape.ToArray(), DType.Float32, x.Device) : null;
                if (dx.Storage is GpuStorage) GpuOps.LayerNormBackward(xc, gc, wc, mean, rstd, dx, dw, db, D);
                else LayerNormKernel.Backward(xc.Span, gc.Span, wc == null ? default : wc.Span, mean.Span, rstd.Span, dx.Span,
                    dw == null ? default : dw.Span, db == null ? default : db.Span, D);
            }
            var grads = new List<Tensor?> { x.RequiresGrad ? dx : null };
            if (w != null) grads.Add(dw);
            if (b != null) grads.Add(db);
            return grads.ToArray();
        });
    }

    /// <summary>The fused backward's closed form in differentiable ops (used under create-graph).</summary>
    static (Tensor Dx, Tensor? Dw, Tensor? Db) LayerNormBackwardComposed(Tensor g, Tensor x, int k, Tensor? w, Tensor? b, float eps)
    {
        var dims = Enumerable.Range(x.Rank - k, k).ToArray();
        var (xhat, _, var) = Normalize(x, dims, eps);
        var rstd = (var + eps).Rsqrt();
        var dxhat = w != null ? g * w : g;
        var dx = rstd * (dxhat - dxhat.Mean(dims, keepDim: true) - xhat * (dxhat * xhat).Mean(dims, keepDim: true));
        Tensor? dw = w != null && w.RequiresGrad ? (g * xhat).SumTo(w.Shape) : null;
        Tensor? db = b != null && b.RequiresGrad ? g.SumTo(b.Shape) : null;
        return (dx, dw, db);
    }
}
