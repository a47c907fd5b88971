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

    /// <summary>
    /// silu(GroupNorm(x + shift)) with shift (N, C) broadcast over the spatial dims, in one fused kernel:
    /// a UNet ResBlock's time embedding added before its second norm, without writing x + shift out.
    /// The same as <c>GroupNormSiLU(x + shift.Reshape(N, C, 1, …), …)</c>, gradients included.
    /// </summary>
    public static Tensor GroupNormSiLU(Tensor x, Tensor shift, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        CheckGroupNorm(x, groups, weight, bias);
        if (shift.Rank != 2 || shift.Shape[0] != x.Shape[0] || shift.Shape[1] != x.Shape[1])
            throw new ArgumentException($"group_norm: shift{shift.NameSuffix} must be (N, C) = ({x.Shape[0]}, {x.Shape[1]}) for input {x.ShapeStr}, got {shift.ShapeStr}.");
        shift.CheckFloat("group_norm");
        Tensor.CheckSameDevice("group_norm", x, shift);
        if (x.Device != Device.Cpu)   // no shifted GPU kernel: the broadcast add, then the fused norm
            return GroupNormFused(x + shift.Reshape(ChannelShapeOf(x, shift)), groups, weight, bias, eps, silu: true);
        return GroupNormFused(x, groups, weight, bias, eps, silu: true, shift);
    }

    /// <summary>(N, C, 1, …, 1) of x's rank: shift viewed to broadcast over x's spatial dims.</summary>
    static int[] ChannelShapeOf(Tensor x, Tensor shift)
    {
        var s = Enumerable.Repeat(1, x.Rank).ToArray();
        s[0] = shift.Shape[0]; s[1] = shift.Shape[1];
        return s;
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
    /// <summary>[silu](GroupNorm(x [+ shift])) with the fused forward and (first-order) fused backward;
    /// shift (N, C), CPU only, is added per sample and channel inside the kernel.</summary>
    internal static Tensor GroupNormFused(Tensor x, int groups, Tensor? w, Tensor? b, float eps, bool silu, Tensor? shift = null)
    {
        int N = x.Shape[0], C = x.Shape[1], S = N * C == 0 ? 0 : x.Numel / (N * C);
        var s = new GroupNormShape(N, C, S, groups, eps, silu);
        var xc = x.ContiguousNoGrad();
        var wc = w?.ContiguousNoGrad(); var bc = b?.ContiguousNoGrad(); var shc = shift?.ContiguousNoGrad();
        var y = Tensor.Empty(x.Shape.ToArray(), DType.Float32, x.Device);
        var mean = Tensor.Empty([N * groups], DType.Float32, x.Device); var rstd = Tensor.Empty([N * groups], DType.Float32, x.Device);
        if (y.Storage is GpuStorage) GpuOps.GroupNormForward(xc, wc, bc, y, mean, rstd, s);
        else GroupNormKernel.Forward(NormVersion.V2Overlap, xc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span,
            shc == null ? default : shc.Span, y.Span, mean.Span, rstd.Span, s);

        var inputs = new List<Tensor> { x };
        if (w != null) inputs.Add(w);
        if (b != null) inputs.Add(b);
        if (shift != null) inputs.Add(shift);
        return Autograd.Record(silu ? "group_norm_silu" : "group_norm", y, inputs.ToArray(), g =>
        {
            Tensor dx; Tensor? dw, db, dshift = null;
            if (Autograd.IsEnabled)
            {
                // create-graph: the closed form in differentiable ops on x + shift; dshift = Σ_spatial dx.
                var xs = shift == null ? x : x + shift.Reshape(ChannelShapeOf(x, shift));
                (dx, dw, db) = GroupNormBackwardComposed(g, xs, groups, w, b, eps, silu);
                if (shift?.RequiresGrad == true) dshift = dx.Reshape(N, C, -1).Sum(2);
            }
            else
                (dx, dw, db, dshift) = GroupNormBackwardFused(g, xc, wc, bc, shc, mean, rstd, s, w?.RequiresGrad == true,
                    b?.RequiresGrad == true, shift?.RequiresGrad == true);
            var grads = new List<Tensor?> { x.RequiresGrad ? dx : null };
            if (w != null) grads.Add(dw);
            if (b != null) grads.Add(db);
            if (shift != null) grads.Add(dshift);
            return grads.ToArray();
        });
    }

    static (Tensor Dx, Tensor? Dw, Tensor? Db, Tensor? Dshift) GroupNormBackwardFused(Tensor g, Tensor xc, Tensor? wc, Tensor? bc, Tensor? shc,
        Tensor mean, Tensor rstd, GroupNormShape s, bool wantW, bool wantB, bool wantShift)
    {
        var gc = g.ContiguousNoGrad();
        var dx = Tensor.Empty(xc.Shape.ToArray(), DType.Float32, xc.Device);
        var dw = wantW ? Tensor.Empty([s.C], DType.Float32, xc.Device) : null;
        var db = wantB ? Tensor.Empty([s.C], DType.Float32, xc.Device) : null;
        var dshift = wantShift ? Tensor.Empty([s.N, s.C], DType.Float32, xc.Device) : null;
        if (dx.Storage is GpuStorage) { GpuOps.GroupNormBackward(xc, gc, wc, bc, mean, rstd, dx, dw, db, s); return (dx, dw, db, null); }
        GroupNormKernel.Backward(NormVersion.V2Overlap, xc.Span, gc.Span, wc == null ? default : wc.Span, bc == null ? default : bc.Span,
            shc == null ? default : shc.Span, mean.Span, rstd.Span, dx.Span, dw == null ? default : dw.Span, db == null ? default : db.Span,
            dshift == null ? default : dshift.Span, s);
        return (dx, dw, db, dshift);
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
