// Loss functions (torch.nn.functional's losses), each composed from differentiable tensor ops so
// that gradients of any order come for free. Definitions follow PyTorch's documentation
// (torch.nn.functional, v2.x) term for term, including its reductions and edge cases:
//   mse      (x − y)²                          l1       |x − y|
//   smoothL1 ½d²/β if d < β else d − ½β        huber    ½d² if d < δ else δ(d − ½δ)      (d = |x − y|)
//   nll      −w_y·logp_y, mean = Σ / Σ w_y over non-ignored targets
//   crossEntropy  nll(log_softmax) with label smoothing ε: (1 − ε)·nll + ε/C·Σ_c(−w_c·logp_c)
//                 (Szegedy et al. 2016, "Rethinking the Inception Architecture", §7)
//   bce      −w(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100))
//   bceWithLogits  (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x); with pw = 1 this is softplus(x) − x·y,
//                  the stable max(x, 0) − x·y + log(1 + e^(−|x|)) (softplus's kernel evaluates exactly that)
//   klGaussians    KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = ½(log σ₂² − log σ₁² + (σ₁² + (μ₁ − μ₂)²)/σ₂² − 1)
//   gaussianNll    ½(log max(var, eps) + (x − y)²/max(var, eps)) (+ ½log 2π when full)
//
// Picking the target class uses a constant Float32 one-hot (scaled by the class weight) multiplied
// into the log-probabilities and summed over the class dim: a gather that is differentiable to any
// order with no extra backward rule.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~LossTests"
using System.Numerics.Tensors;

namespace Denoise;

/// <summary>How a per-element loss is reduced: averaged (the default), summed, or returned as is.</summary>
public enum Reduction { Mean, Sum, None }

public static partial class F
{
    static Tensor Reduce(Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.Mean => loss.Mean(),
        Reduction.Sum => loss.Sum(),
        _ => loss,
    };

    static void CheckSameShape(string op, Tensor input, Tensor target)
    {
        input.CheckFloat(op); target.CheckFloat(op + " (target)");
        if (!ShapeUtil.Equal(input.Shape, target.Shape))
            throw new ArgumentException($"{op}: input{input.NameSuffix} of shape {input.ShapeStr} and target{target.NameSuffix} of shape {target.ShapeStr} must have the same shape.");
    }

    // ───────────────────── regression ─────────────────────

    /// <summary>Mean squared error, (input − target)².</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("mse_loss", input, target);
        var d = input - target;
        return Reduce(d * d, reduction);
    }

    /// <summary>Mean absolute error, |input − target|; its gradient is sign(input − target) (0 at a tie).</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("l1_loss", input, target);
        return Reduce((input - target).Abs(), reduction);
    }

    /// <summary>Smooth L1: ½d²/β for d = |input − target| &lt; β, else d − ½β. β = 0 is plain L1.</summary>
    public static Tensor SmoothL1Loss(Tensor input, Tensor target, float beta = 1f, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("smooth_l1_loss", input, target);
        if (!(beta >= 0)) throw new ArgumentException($"smooth_l1_loss: beta must be ≥ 0, got {beta}.");
        var d = (input - target).Abs();
        if (beta == 0) return Reduce(d, reduction);
        return Reduce(Tensor.Where(d.Lt(beta), d * d * (0.5f / beta), d - 0.5f * beta), reduction);
    }

    /// <summary>Huber: ½d² for d = |input − target| &lt; δ, else δ(d − ½δ) (= δ·SmoothL1 with β = δ).</summary>
    public static Tensor HuberLoss(Tensor input, Tensor target, float delta = 1f, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("huber_loss", input, target);
        if (!(delta > 0)) throw new ArgumentException($"huber_loss: delta must be > 0, got {delta}.");
        var d = (input - target).Abs();
        return Reduce(Tensor.Where(d.Lt(delta), d * d * 0.5f, (d - 0.5f * delta) * delta), reduction);
    }

    /// <summary>min of a device tensor as one float read (NaN propagates as in TensorPrimitives.Min: any NaN gives NaN).</summary>
    static float MinOnDevice(Tensor t)
    {
        using (Autograd.NoGrad())
        {
            var d = t.Detach();
            if (d.Ne(d).Sum().Item() > 0) return float.NaN;
            return d.Min().Item();
        }
    }

    /// <summary>
    /// Gaussian negative log-likelihood of target under N(input, var): ½(log v + (input − target)²/v)
    /// with v = max(var, eps), plus ½log 2π when <paramref name="full"/>. As in PyTorch the clamp passes
    /// the gradient through unchanged. var broadcasts to input's shape (e.g. one variance per row).
    /// </summary>
    public static Tensor GaussianNllLoss(Tensor input, Tensor target, Tensor variance, bool full = false, float eps = 1e-6f,
        Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("gaussian_nll_loss", input, target);
        variance.CheckFloat("gaussian_nll_loss (var)");
        if (!ShapeUtil.Equal(ShapeUtil.Broadcast(input.shape, variance.shape, "gaussian_nll_loss"), input.shape))
            throw new ArgumentException($"gaussian_nll_loss: var of shape {variance.ShapeStr} does not broadcast to input shape {input.ShapeStr}.");
        // On a device: a device min and one float read instead of reading the whole variance.
        float minVar = variance.Numel == 0 ? 0
            : variance.Storage is GpuStorage ? MinOnDevice(variance) : TensorPrimitives.Min(variance.ContiguousNoGrad().Span);
        if (minVar < 0) throw new ArgumentException($"gaussian_nll_loss: var of shape {variance.ShapeStr} has a negative entry ({minVar}).");
        // v = var + (clamp(var) − var).detach(): the clamped value with the identity gradient.
        var v2 = variance + (variance.Detach().Clamp(min: eps) - variance.Detach());
        var d = input - target;
        var loss = (v2.Log() + d * d / v2) * 0.5f;
        if (full) loss = loss + 0.5f * MathF.Log(2 * MathF.PI);
        return Reduce(loss, reduction);
    }

    // ───────────────────── classification ─────────────────────

    /// <summary>
    /// Negative log-likelihood of Int32 class <paramref name="targets"/> under <paramref name="logProbs"/>
    /// ((N, C) or (N, C, d1, …); targets (N) or (N, d1, …)): −w[t]·logProbs[n, t]. Targets equal to
    /// <paramref name="ignoreIndex"/> contribute 0, and Mean divides by the summed weight of the rest.
    /// </summary>
    public static Tensor NllLoss(Tensor logProbs, Tensor targets, Tensor? classWeights = null, int ignoreIndex = -100,
        Reduction reduction = Reduction.Mean)
    {
        logProbs.CheckFloat("nll_loss");
        var (lp, tg, unbatched) = BatchClassInput("nll_loss", logProbs, targets);
        var weightedOneHot = OneHotTargets("nll_loss", lp, tg, classWeights, ignoreIndex, out float weightSum);
        var loss = -(lp * weightedOneHot).Sum(1);
        return ReduceNll(loss, reduction, weightSum, unbatched);
    }

    /// <summary>
    /// Cross-entropy of <paramref name="logits"/> (N, C) or (N, C, d1, …) against either Int32 class
    /// indices (N) / (N, d1, …) or Float32 class probabilities of the logits' shape, as torch's
    /// cross_entropy. With label smoothing ε the target is (1 − ε)·target + ε/C; class weights scale each
    /// class's term; ignoreIndex applies to class indices only. Mean divides by the summed weight of the
    /// non-ignored targets (indices) or by the number of samples (probabilities).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, float labelSmoothing = 0f, Tensor? classWeights = null,
        int ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        logits.CheckFloat("cross_entropy");
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentException($"cross_entropy: labelSmoothing must be in [0, 1], got {labelSmoothing}.");
        if (targets.DType == DType.Float32) return CrossEntropyProbs(logits, targets, labelSmoothing, classWeights, reduction);

        var (x, tg, unbatched) = BatchClassInput("cross_entropy", logits, targets);
        var logp = x.LogSoftmax(1);
        var weightedOneHot = OneHotTargets("cross_entropy", logp, tg, classWeights, ignoreIndex, out float weightSum);
        var loss = -(logp * weightedOneHot).Sum(1);
        if (labelSmoothing > 0)
        {
            int C = x.shape[1];
            // ε/C · Σ_c(−w_c·logp_c), zero at ignored positions (PyTorch's smooth_loss).
            var w = ClassWeightsAlongDim1(classWeights, x.Rank, C);
            var smooth = -(w == null ? logp : logp * w).Sum(1) * KeptMask(tg, ignoreIndex);
            loss = loss * (1f - labelSmoothing) + smooth * (labelSmoothing / C);
        }
        return ReduceNll(loss, reduction, weightSum, unbatched);
    }

    static Tensor CrossEntropyProbs(Tensor logits, Tensor targets, float labelSmoothing, Tensor? classWeights, Reduction reduction)
    {
        if (!ShapeUtil.Equal(logits.Shape, targets.Shape))
            throw new ArgumentException($"cross_entropy: Float32 (probability) targets{targets.NameSuffix} of shape {targets.ShapeStr} must have the logits' shape {logits.ShapeStr}.");
        bool unbatched = logits.Rank == 1;
        var x = unbatched ? logits.Unsqueeze(0) : logits;
        var t = unbatched ? targets.Unsqueeze(0) : targets;
        if (x.Rank < 2) throw new ArgumentException($"cross_entropy: logits{logits.NameSuffix} of shape {logits.ShapeStr} need a class dimension.");
        int C = x.shape[1];
        if (labelSmoothing > 0) t = t * (1f - labelSmoothing) + labelSmoothing / C;
        var w = ClassWeightsAlongDim1(classWeights, x.Rank, C);
        if (w != null) t = t * w;
        var loss = -(x.LogSoftmax(1) * t).Sum(1);
        if (unbatched) loss = loss.Squeeze(0);
        return Reduce(loss, reduction);
    }

    /// <summary>Adds a batch dim to unbatched (C,) input with a 0-d target; checks target dtype and shape.</summary>
    static (Tensor input, Tensor targets, bool unbatched) BatchClassInput(string op, Tensor input, Tensor targets)
    {
        if (targets.DType != DType.Int32)
            throw new ArgumentException($"{op}: targets{targets.NameSuffix} of shape {targets.ShapeStr} are {targets.DType}; expected Int32 class indices.");
        if (input.Rank == 0) throw new ArgumentException($"{op}: input{input.NameSuffix} of shape {input.ShapeStr} needs a class dimension.");
        bool unbatched = input.Rank == 1;
        var x = unbatched ? input.Unsqueeze(0) : input;
        var t = unbatched ? targets.Reshape(targets.Numel == 1 ? [1] : targets.shape) : targets;
        var expected = x.shape.Where((_, d) => d != 1).ToArray();
        if (!ShapeUtil.Equal(t.Shape, expected) || (unbatched && targets.Rank != 0))
            throw new ArgumentException($"{op}: targets{targets.NameSuffix} of shape {targets.ShapeStr} do not match input{input.NameSuffix} of shape {input.ShapeStr}; " +
                $"expected {ShapeUtil.Str(unbatched ? [] : expected)} (the input's shape without the class dimension 1).");
        return (x, t, unbatched);
    }

    /// <summary>
    /// A constant Float32 tensor of the input's shape (N, C, …) holding w[t] at [n, t[n, …], …] and 0
    /// elsewhere (w = 1 without class weights; all-zero at ignored targets). Also returns Σ w[t] over
    /// the non-ignored targets, the Mean denominator.
    /// </summary>
    static Tensor OneHotTargets(string op, Tensor input, Tensor targets, Tensor? classWeights, int ignoreIndex, out float weightSum)
    {
        int N = input.shape[0], C = input.shape[1];
        int inner = C == 0 ? 0 : input.Numel / (N * C);
        float[]? w = null;
        if (classWeights != null)
        {
            classWeights.CheckFloat(op + " (class weights)");
            if (classWeights.Rank != 1 || classWeights.shape[0] != C)
                throw new ArgumentException($"{op}: class weights of shape {classWeights.ShapeStr} do not match the {C} classes of input shape {input.ShapeStr}; expected ({C},).");
            w = classWeights.ToArray(); // C floats
        }
        bool device = input.Storage is GpuStorage;
        // The targets are checked (and the weight sum taken) on the host: on a GPU device an explicit
        // small read, then the one-hot is written by a kernel.
        ReadOnlySpan<int> t = device ? targets.ToIntArray() : targets.ContiguousNoGrad().IntSpan;
        var hot = Tensor.Full(input.shape, 0f, input.Device);
        var hs = device ? default : hot.Span;
        double sum = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < inner; i++)
            {
                int c = t[n * inner + i];
                if (c == ignoreIndex) continue;
                if ((uint)c >= (uint)C)
                    throw new ArgumentException($"{op}: target {c} at position {n * inner + i} of targets shape {targets.ShapeStr} is outside [0, {C}) " +
                        $"for input of shape {input.ShapeStr} (and is not ignoreIndex {ignoreIndex}).");
                float wc = w == null ? 1f : w[c];
                if (!device) hs[(n * C + c) * inner + i] = wc;
                sum += wc;
            }
        weightSum = (float)sum;
        if (device) GpuOps.OneHotTargets(targets, classWeights, hot, C, inner, ignoreIndex);
        return hot;
    }

    /// <summary>1 where the target is kept, 0 where it equals ignoreIndex.</summary>
    static Tensor KeptMask(Tensor targets, int ignoreIndex)
    {
        bool device = targets.Storage is GpuStorage;   // labels: read them (an explicit small read), build, upload
        var mask = Tensor.Empty(targets.shape);
        var ms = mask.Span; ReadOnlySpan<int> ts = device ? targets.ToIntArray() : targets.ContiguousNoGrad().IntSpan;
        for (int i = 0; i < ms.Length; i++) ms[i] = ts[i] == ignoreIndex ? 0f : 1f;
        return device ? mask.To(targets.Device) : mask;
    }

    /// <summary>Class weights (C,) reshaped to (1, C, 1, …) to broadcast over an input of the given rank.</summary>
    static Tensor? ClassWeightsAlongDim1(Tensor? classWeights, int rank, int C)
    {
        if (classWeights == null) return null;
        classWeights.CheckFloat("cross_entropy (class weights)");
        if (classWeights.Rank != 1 || classWeights.shape[0] != C)
            throw new ArgumentException($"cross_entropy: class weights of shape {classWeights.ShapeStr} do not match the {C} classes; expected ({C},).");
        var shape = Enumerable.Repeat(1, rank).ToArray();
        shape[1] = C;
        return classWeights.Reshape(shape);
    }

    static Tensor ReduceNll(Tensor loss, Reduction reduction, float weightSum, bool unbatched)
    {
        // 0/0 = NaN when every target is ignored, as in PyTorch.
        if (reduction == Reduction.Mean) return loss.Sum() / Tensor.Scalar(weightSum);
        if (reduction == Reduction.Sum) return loss.Sum();
        return unbatched ? loss.Squeeze(0) : loss;
    }

    // ───────────────────── binary ─────────────────────

    /// <summary>
    /// Binary cross-entropy of probabilities in [0, 1]: −w(y·log p + (1 − y)·log(1 − p)), each log clamped
    /// at −100 as PyTorch does, so p = 0 or 1 gives a finite loss. Where a log is clamped its gradient is 0.
    /// </summary>
    public static Tensor BinaryCrossEntropy(Tensor probs, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("binary_cross_entropy", probs, target);
        if (probs.Numel > 0 && probs.Storage is GpuStorage)
        {
            // Count the values outside [0, 1] (NaN included: NaN ≠ NaN) on the device; read one float.
            Tensor bad;
            using (Autograd.NoGrad()) { var pd = probs.Detach(); bad = (pd.Lt(0f) + pd.Gt(1f) + pd.Ne(pd)).Sum(); }
            if (bad.Item() > 0)
            {
                var all = probs.ToArray();
                float v = all.First(x => !(x >= 0 && x <= 1));
                throw new ArgumentException($"binary_cross_entropy: input{probs.NameSuffix} of shape {probs.ShapeStr} has value {v} outside [0, 1]; use BinaryCrossEntropyWithLogits for logits.");
            }
        }
        else if (probs.Numel > 0)
        {
            var ps = probs.ContiguousNoGrad().Span;
            float lo = TensorPrimitives.Min(ps), hi = TensorPrimitives.Max(ps); // NaN propagates, and fails the test below
            if (!(lo >= 0 && hi <= 1))
                throw new ArgumentException($"binary_cross_entropy: input{probs.NameSuffix} of shape {probs.ShapeStr} has value {(lo < 0 || float.IsNaN(lo) ? lo : hi)} outside [0, 1]; use BinaryCrossEntropyWithLogits for logits.");
        }
        var loss = -(target * ClampedLog(probs) + (1f - target) * ClampedLog(1f - probs));
        if (weight != null) loss = loss * weight;
        return Reduce(loss, reduction);
    }

    /// <summary>max(log p, −100), with no NaN gradient at p = 0: the log sees 1 there (its branch is not selected).</summary>
    static Tensor ClampedLog(Tensor p)
    {
        var positive = p.Gt(0f);
        var safe = Tensor.Where(positive, p, 1f);
        return Tensor.Where(positive, safe.Log(), -100f).Clamp(min: -100f);
    }

    /// <summary>
    /// Binary cross-entropy on logits, stable for any |x|: (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x),
    /// which without posWeight is max(x, 0) − x·y + log(1 + e^(−|x|)). posWeight (broadcast over the
    /// last dims, e.g. one per class) up-weights positive examples; weight scales each element.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target, Tensor? posWeight = null, Tensor? weight = null,
        Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("binary_cross_entropy_with_logits", logits, target);
        Tensor loss;
        if (posWeight == null) loss = logits.Softplus() - logits * target;
        else
        {
            posWeight.CheckFloat("binary_cross_entropy_with_logits (posWeight)");
            if (posWeight.Rank > logits.Rank || !ShapeUtil.Equal(ShapeUtil.Broadcast(logits.shape, posWeight.shape, "binary_cross_entropy_with_logits"), logits.shape))
                throw new ArgumentException($"binary_cross_entropy_with_logits: posWeight of shape {posWeight.ShapeStr} does not broadcast to logits shape {logits.ShapeStr}.");
            var logWeight = (posWeight - 1f) * target + 1f;
            loss = (1f - target) * logits + logWeight * (-logits).Softplus();
        }
        if (weight != null) loss = loss * weight;
        return Reduce(loss, reduction);
    }

    // ───────────────────── distributions ─────────────────────

    /// <summary>
    /// Element-wise KL(N(mu1, e^logvar1) ‖ N(mu2, e^logvar2)); the prior defaults to N(0, 1) (mu2 = 0,
    /// logvar2 = 0). The VAE's KL term (Kingma &amp; Welling 2014, appendix B) is
    /// KlDivGaussians(mu, logvar, reduction: Sum) / batch. Parameters broadcast together.
    /// </summary>
    public static Tensor KlDivGaussians(Tensor mu1, Tensor logvar1, Tensor? mu2 = null, Tensor? logvar2 = null,
        Reduction reduction = Reduction.Mean)
    {
        mu1.CheckFloat("kl_div_gaussians (mu1)"); logvar1.CheckFloat("kl_div_gaussians (logvar1)");
        var diff = mu2 == null ? mu1 : mu1 - mu2;
        Tensor kl;
        if (logvar2 == null) kl = (logvar1.Exp() + diff * diff - logvar1 - 1f) * 0.5f;
        else
        {
            // Ratios as exp of differences: e^(lv1 − lv2) stays finite where e^lv1 / e^lv2 would overflow.
            var ratio = (logvar1 - logvar2).Exp();
            kl = (ratio + diff * diff * (-logvar2).Exp() - (logvar1 - logvar2) - 1f) * 0.5f;
        }
        return Reduce(kl, reduction);
    }
}
