// nn.functional for layers: linear, layer/group/batch norm, scaled dot-product attention.
//
// These are composed from differentiable primitives (matmul, mean, sub, mul, rsqrt, softmax), so
// their backward — and second order, for gradient penalties — comes from the ops' own rules. A
// later issue replaces the norms and attention with fused kernels carrying hand-written backward
// rules; these compositions stay as the reference those kernels are tested against.
//   LayerNorm: Ba, Kiros & Hinton 2016.   GroupNorm: Wu & He 2018.   BatchNorm: Ioffe & Szegedy 2015.
//   Attention: Vaswani et al. 2017, softmax(QKᵀ/√d)V.
// Normalisation uses the biased variance (÷n), as PyTorch; BatchNorm's running variance is fed
// the unbiased one (÷(n−1)), also as PyTorch.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"

using Denoise.Kernels.Cpu;

namespace Denoise;

public static partial class F
{
    /// <summary>y = x·Wᵀ + b for x (…, in), W (out, in), b (out) → (…, out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Rank != 2)
            throw new ArgumentException($"linear: weight{weight.NameSuffix} must be (out, in), got {weight.ShapeStr}.");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (x.Rank == 0 || x.Shape[^1] != inF)
            throw new ArgumentException($"linear: input{x.NameSuffix} of shape {x.ShapeStr} does not end in in_features = {inF} of weight{weight.NameSuffix} {weight.ShapeStr}.");
        if (bias != null && (bias.Rank != 1 || bias.Shape[0] != outF))
            throw new ArgumentException($"linear: bias{bias.NameSuffix} must be ({outF},) for weight {weight.ShapeStr}, got {bias.ShapeStr}.");
        var lead = x.Shape[..^1].ToArray();
        var x2 = x.Reshape(-1, inF);                 // (N, in)
        Tensor y;
        if (bias != null && x.Device == Device.Cpu && weight.Device == Device.Cpu && bias.Device == Device.Cpu)
            y = LinearAddmm(x2, weight, bias);       // one GEMM pass, bias preloaded into C
        else
        {
            y = x2.MatMul(weight.T);                 // (N, out); Wᵀ is a transposed view, no copy
            if (bias != null) y = y + bias;
        }
        return y.Reshape([.. lead, outF]);           // (…, out)
    }

    /// <summary>
    /// y = x·Wᵀ + b as BLAS addmm: y's rows are filled with b, then one GEMM with beta = 1 adds x·Wᵀ.
    /// The composed form (matmul, then a broadcast add) wrote y, read it back and wrote it again; in
    /// WORKLOADS M2 and M3 that add was 6 % and 3 % of the step (bench `step m2|m3 --profile --cpu-time`).
    /// Backward as the composition's: dX = g·W, dW = gᵀ·x, db = Σ_rows g — differentiable ops, so
    /// second order works. x2 (N, in), weight (out, in), bias (out) → (N, out).
    /// </summary>
    static Tensor LinearAddmm(Tensor x2, Tensor weight, Tensor bias)
    {
        x2.CheckFloat("linear"); weight.CheckFloat("linear"); bias.CheckFloat("linear");
        int N = x2.Shape[0], outF = weight.Shape[0], inF = weight.Shape[1];
        var y = Tensor.Empty([N, outF]);
        if (y.Numel > 0)
        {
            var b = bias.ContiguousNoGrad().Span;
            var ys = y.Span;
            for (int i = 0; i < N; i++) b.CopyTo(ys.Slice(i * outF, outF));
            if (inF > 0)
            {
                var (ta, transA, lda) = Tensor.GemmOperand(x2);
                var (tw, transW, ldw) = Tensor.GemmOperand(weight);
                // op(B) = Wᵀ (in × out): W stored (out × in) is B transposed; a transposed view of W is not.
                Gemm.Run(transA, !transW, N, outF, inF, 1f, ta.Data.AsSpan(ta.offset), lda,
                    tw.Data.AsSpan(tw.offset), ldw, 1f, ys, outF);
            }
        }
        return Autograd.Record("linear", y, [x2, weight, bias], g => [
            x2.RequiresGrad ? g.MatMul(weight) : null,
            weight.RequiresGrad ? g.T.MatMul(x2) : null,
            bias.RequiresGrad ? g.Sum(0) : null]);
    }

    /// <summary>Normalises over the trailing dims given by <paramref name="normalizedShape"/>:
    /// (x − mean)/√(var + eps) · weight + bias, weight/bias of shape normalizedShape.</summary>
    public static Tensor LayerNorm(Tensor x, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        int k = normalizedShape.Length;
        if (k == 0 || x.Rank < k || !ShapeUtil.Equal(x.Shape[^k..], normalizedShape))
            throw new ArgumentException($"layer_norm: input{x.NameSuffix} of shape {x.ShapeStr} does not end in normalized shape {ShapeUtil.Str(normalizedShape)}.");
        CheckAffine("layer_norm", weight, normalizedShape);
        CheckAffine("layer_norm", bias, normalizedShape);
        return LayerNormFused(x, normalizedShape, weight, bias, eps);   // Functional.Norms.cs (CPU and GPU kernels)
    }

    /// <summary>LayerNorm as a composition of differentiable primitives: the reference the fused op is tested against.</summary>
    internal static Tensor LayerNormComposed(Tensor x, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        int k = normalizedShape.Length;
        var dims = Enumerable.Range(x.Rank - k, k).ToArray();
        var y = Normalize(x, dims, eps).Y;
        if (weight != null) y = y * weight;
        if (bias != null) y = y + bias;
        return y;
    }

    public static Tensor LayerNorm(Tensor x, int normalizedShape, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f) =>
        LayerNorm(x, [normalizedShape], weight, bias, eps);

    /// <summary>GroupNorm over x (N, C, …): channels split into <paramref name="groups"/> groups,
    /// each (sample, group) normalised over its channels and all spatial positions; weight/bias (C).</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        CheckGroupNorm(x, groups, weight, bias);
        return GroupNormFused(x, groups, weight, bias, eps, silu: false);   // Functional.Norms.cs
    }

    /// <summary>GroupNorm as a composition of differentiable primitives: the reference the fused op is tested against.</summary>
    internal static Tensor GroupNormComposed(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        CheckGroupNorm(x, groups, weight, bias);
        int N = x.Shape[0], C = x.Shape[1];
        var shape = x.Shape.ToArray();
        var xg = x.Reshape(N, groups, -1);                       // (N, G, C/G · spatial)
        var y = Normalize(xg, [2], eps).Y.Reshape(shape);        // (N, C, …)
        var perChannel = ChannelShape(x.Rank, C);                // (C, 1, …, 1)
        if (weight != null) y = y * weight.Reshape(perChannel);
        if (bias != null) y = y + bias.Reshape(perChannel);
        return y;
    }

    /// <summary>
    /// BatchNorm over x (N, C) or (N, C, …): statistics per channel over the batch and spatial dims.
    /// In training (or when no running statistics are given) the batch statistics normalise, and
    /// the running ones, if given, are updated in place: r ← (1 − momentum)·r + momentum·batch,
    /// with the unbiased batch variance. Otherwise the running statistics normalise.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
        bool training = true, float momentum = 0.1f, float eps = 1e-5f)
    {
        if (x.Rank < 2) throw new ArgumentException($"batch_norm: input{x.NameSuffix} must be (N, C, …), got {x.ShapeStr}.");
        int C = x.Shape[1];
        CheckAffine("batch_norm", weight, [C]);
        CheckAffine("batch_norm", bias, [C]);
        CheckAffine("batch_norm", runningMean, [C]);
        CheckAffine("batch_norm", runningVar, [C]);
        if ((runningMean == null) != (runningVar == null))
            throw new ArgumentException("batch_norm: pass both running_mean and running_var, or neither.");
        var perChannel = ChannelShape(x.Rank, C);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        int n = x.Numel / Math.Max(1, C);

        Tensor y;
        if (training || runningMean == null)
        {
            if (n <= 1)
                throw new ArgumentException($"batch_norm: expected more than 1 value per channel when training, got input of shape {x.ShapeStr}.");
            // One fused op (Functional.Norms.cs): normalise, scale and shift with the batch statistics.
            // On a GPU device the composition runs on device kernels instead (the fused kernel is CPU-only).
            var (yb, mean, var) = x.Device == Device.Cpu ? BatchNormFused(x, weight, bias, eps) : BatchNormOnDevice(x, weight, bias, eps);
            if (runningMean != null && training)
                using (Autograd.NoGrad())
                {
                    runningMean.MulInPlace(1f - momentum).AddInPlace(mean, momentum);
                    runningVar!.MulInPlace(1f - momentum).AddInPlace(var, momentum * n / (n - 1f));
                }
            return yb;
        }
        else
        {
            // The running statistics are constants of this forward (buffers, never on the tape).
            y = (x - runningMean.Detach().Reshape(perChannel)) * (runningVar!.Detach().Reshape(perChannel) + eps).Rsqrt();
        }
        if (weight != null) y = y * weight.Reshape(perChannel);
        if (bias != null) y = y + bias.Reshape(perChannel);
        return y;
    }

    static (Tensor Y, Tensor Mean, Tensor Var) BatchNormOnDevice(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        int C = x.Shape[1];
        var perChannel = ChannelShape(x.Rank, C);
        var (y, mean, var) = Normalize(x, Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray(), eps);
        if (weight != null) y = y * weight.Reshape(perChannel);
        if (bias != null) y = y + bias.Reshape(perChannel);
        return (y, mean.Detach().Reshape(C), var.Detach().Reshape(C));
    }

    /// <summary>Training-mode BatchNorm with the batch statistics as a composition of differentiable
    /// primitives: the reference the fused op (BatchNormFused) is tested against.</summary>
    internal static Tensor BatchNormComposed(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        int C = x.Shape[1];
        var perChannel = ChannelShape(x.Rank, C);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        var y = Normalize(x, dims, eps).Y;
        if (weight != null) y = y * weight.Reshape(perChannel);
        if (bias != null) y = y + bias.Reshape(perChannel);
        return y;
    }

    /// <summary>
    /// softmax(Q·Kᵀ·scale + mask)·V over q (…, Tq, d), k (…, Tk, d), v (…, Tk, dv) → (…, Tq, dv);
    /// scale defaults to 1/√d. <paramref name="mask"/> broadcasts to (…, Tq, Tk): added to the
    /// scores when <paramref name="booleanMask"/> is false (use −∞ to block), or, when true, a
    /// 0/1 tensor where 1 means "may attend" (torch's boolean attn_mask). <paramref name="isCausal"/>
    /// lets query i see keys j ≤ i (top-left aligned, as torch's is_causal). A row that can see
    /// nothing yields NaN, as in PyTorch.
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? mask = null, bool isCausal = false,
        float? scale = null, bool booleanMask = false)
    {
        if (q.Rank < 2 || k.Rank < 2 || v.Rank < 2 || q.Shape[^1] != k.Shape[^1] || k.Shape[^2] != v.Shape[^2])
            throw new ArgumentException($"scaled_dot_product_attention: expected q (…, Tq, d), k (…, Tk, d), v (…, Tk, dv); got q {q.ShapeStr}, k {k.ShapeStr}, v {v.ShapeStr}.");
        float s = scale ?? 1f / MathF.Sqrt(q.Shape[^1]);
        // No arbitrary mask: the fused blockwise kernel (Functional.Attention.cs), which never
        // materialises the Tq × Tk scores.
        if (mask == null && UseFusedAttention && CanFuseAttention(q, k, v)) return AttentionFused(q, k, v, isCausal, s);
        return ScaledDotProductAttentionComposed(q, k, v, mask, isCausal, s, booleanMask);
    }

    /// <summary>softmax(Q·Kᵀ·scale + mask)·V composed from matmul and softmax (materialises the
    /// scores): the path for explicit masks, and the reference the fused op is tested against.</summary>
    internal static Tensor ScaledDotProductAttentionComposed(Tensor q, Tensor k, Tensor v, Tensor? mask, bool isCausal,
        float s, bool booleanMask = false)
    {
        int Tq = q.Shape[^2], Tk = k.Shape[^2];
        var scores = q.MatMul(k.T) * s;                           // (…, Tq, Tk)
        if (mask != null)
        {
            try { ShapeUtil.Broadcast(scores.Shape.ToArray(), mask.Shape.ToArray(), "scaled_dot_product_attention (mask)"); }
            catch (ArgumentException)
            {
                throw new ArgumentException($"scaled_dot_product_attention: mask{mask.NameSuffix} of shape {mask.ShapeStr} does not broadcast to the scores' shape {scores.ShapeStr} (…, Tq, Tk).");
            }
            scores = booleanMask ? scores.MaskedFill(mask.Eq(0f), float.NegativeInfinity) : scores + mask;
        }
        if (isCausal) scores = scores + CausalMask(Tq, Tk, scores.Device);
        return scores.Softmax(-1).MatMul(v);                      // (…, Tq, dv)
    }

    /// <summary>(Tq, Tk) additive mask: 0 where key j ≤ query i, −∞ above the diagonal.</summary>
    public static Tensor CausalMask(int Tq, int Tk, Device? device = null)
    {
        var m = Tensor.Empty([Tq, Tk]);
        var s = m.Span;
        for (int i = 0; i < Tq; i++)
            for (int j = 0; j < Tk; j++) s[i * Tk + j] = j <= i ? 0f : float.NegativeInfinity;
        return device == null ? m : m.To(device);
    }

    // ───────────────────── helpers ─────────────────────

    /// <summary>(x − mean)·rsqrt(var + eps) over dims, with mean and the biased var (keepDim) for callers that track them.</summary>
    static (Tensor Y, Tensor Mean, Tensor Var) Normalize(Tensor x, int[] dims, float eps)
    {
        var mean = x.Mean(dims, keepDim: true);
        var xc = x - mean;
        var var = (xc * xc).Mean(dims, keepDim: true);
        return (xc * (var + eps).Rsqrt(), mean, var);
    }

    static int[] ChannelShape(int rank, int C)
    {
        var s = new int[rank - 1];
        Array.Fill(s, 1);
        s[0] = C;
        return s;
    }

    static void CheckAffine(string op, Tensor? t, int[] expected)
    {
        if (t != null && !ShapeUtil.Equal(t.Shape, expected))
            throw new ArgumentException($"{op}: tensor{t.NameSuffix} has shape {t.ShapeStr}; expected {ShapeUtil.Str(expected)}.");
    }
}
