// Tests for engine/NN/Functional.Losses.cs: each loss against an independent double-precision loop
// written from PyTorch's documented definition (and a few hand-computed values), every reduction,
// first-order gradient checks for every loss, second order for the ones used under create-graph,
// and clear errors for bad targets.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~LossTests"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class LossTests
{
    static readonly Reduction[] AllReductions = [Reduction.Mean, Reduction.Sum, Reduction.None];

    /// <summary>Compares a loss under each reduction with the per-element reference (mean = Σ/denominator).</summary>
    static void AssertReductions(Func<Reduction, Tensor> loss, double[] perElement, double? meanDenominator = null, double tol = 1e-5)
    {
        var none = loss(Reduction.None).ToArray();
        Assert.That(none.Length, Is.EqualTo(perElement.Length));
        for (int i = 0; i < none.Length; i++) Assert.That(none[i], Is.EqualTo(perElement[i]).Within(tol * Math.Max(1, Math.Abs(perElement[i]))), $"element {i}");
        double sum = perElement.Sum();
        Assert.That(loss(Reduction.Sum).Item(), Is.EqualTo(sum).Within(tol * Math.Max(1, Math.Abs(sum))), "sum");
        double mean = sum / (meanDenominator ?? perElement.Length);
        Assert.That(loss(Reduction.Mean).Item(), Is.EqualTo(mean).Within(tol * Math.Max(1, Math.Abs(mean))), "mean");
    }

    /// <summary>Input and a target whose difference d has |d| in [lo, hi] with random sign (away from kinks).</summary>
    static (Tensor input, Tensor target) PairWithGap(int seed, double lo, double hi, params int[] shape)
    {
        var r = new Random(seed);
        int n = ShapeUtil.Numel(shape);
        var x = new float[n]; var t = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(2 * r.NextDouble() - 1);
            double gap = lo + (hi - lo) * r.NextDouble();
            t[i] = (float)(x[i] + (r.Next(2) == 0 ? gap : -gap));
        }
        return (Tensor.FromArray(x, shape), Tensor.FromArray(t, shape));
    }

    static double[] D(Tensor t) => t.ToArray().Select(v => (double)v).ToArray();

    // ───────────────────── regression ─────────────────────

    [Test]
    public void RegressionLosses_MatchDoubleLoops_ForEveryReduction()
    {
        var (x, t) = PairWithGap(1, 0.05, 2.0, 3, 4);
        double[] xv = D(x), tv = D(t);
        var diff = xv.Zip(tv, (a, b) => a - b).ToArray();
        AssertReductions(r => F.MseLoss(x, t, r), diff.Select(d => d * d).ToArray());
        AssertReductions(r => F.L1Loss(x, t, r), diff.Select(Math.Abs).ToArray());
        const double beta = 0.6, delta = 0.8;
        AssertReductions(r => F.SmoothL1Loss(x, t, (float)beta, r),
            diff.Select(d => Math.Abs(d) < beta ? 0.5 * d * d / beta : Math.Abs(d) - 0.5 * beta).ToArray());
        AssertReductions(r => F.HuberLoss(x, t, (float)delta, r),
            diff.Select(d => Math.Abs(d) < delta ? 0.5 * d * d : delta * (Math.Abs(d) - 0.5 * delta)).ToArray());
        Assert.That(F.SmoothL1Loss(x, t, 0f).Item(), Is.EqualTo(F.L1Loss(x, t).Item()).Within(1e-6), "beta 0 is L1");
        Assert.That(F.HuberLoss(x, t, 0.7f).Item(), Is.EqualTo(0.7f * F.SmoothL1Loss(x, t, 0.7f).Item()).Within(1e-6), "huber = δ·smoothL1(β=δ)");

        var v = GradCheck.Rand(2, 0.2f, 2f, 3, 4);
        double[] vv = D(v);
        const double eps = 1e-6;
        AssertReductions(r => F.GaussianNllLoss(x, t, v, reduction: r),
            Enumerable.Range(0, 12).Select(i => 0.5 * (Math.Log(Math.Max(vv[i], eps)) + diff[i] * diff[i] / Math.Max(vv[i], eps))).ToArray());
        var full = F.GaussianNllLoss(x, t, v, full: true).Item() - F.GaussianNllLoss(x, t, v).Item();
        Assert.That(full, Is.EqualTo(0.5 * Math.Log(2 * Math.PI)).Within(1e-5));
        // One variance per row broadcasts.
        var rowVar = Tensor.FromArray(new float[] { 0.5f, 1f, 2f }, 3, 1);
        Assert.That(F.GaussianNllLoss(x, t, rowVar, reduction: Reduction.None).Shape.ToArray(), Is.EqualTo(new[] { 3, 4 }));
    }

    [Test]
    public void RegressionLosses_Gradients()
    {
        var (x, t) = PairWithGap(3, 0.1, 0.5, 3, 4);
        GradCheck.Check(xs => F.MseLoss(xs[0], xs[1]), [x, t], what: "mse");
        GradCheck.CheckSecondOrder(xs => F.MseLoss(xs[0], xs[1], Reduction.Sum), [x, t], what: "mse");
        // L1: |d| ≥ 0.1 keeps the kink ≥ 2h away.
        (x, t) = PairWithGap(4, 0.1, 1.0, 3, 4);
        GradCheck.Check(xs => F.L1Loss(xs[0], xs[1], Reduction.None), [x, t], what: "l1");
        // Huber / smooth L1 with δ = β = 0.6 and |d| in [0.1, 0.45] ∪ [0.75, 1.2]: both branches, away from the switch.
        (x, t) = PairWithGap(5, 0.1, 0.45, 2, 3);
        var (x2, t2) = PairWithGap(6, 0.75, 1.2, 2, 3);
        var xi = Tensor.Cat([x, x2], 0); var ti = Tensor.Cat([t, t2], 0);
        GradCheck.Check(xs => F.HuberLoss(xs[0], xs[1], 0.6f, Reduction.None), [xi, ti], what: "huber");
        GradCheck.Check(xs => F.SmoothL1Loss(xs[0], xs[1], 0.6f), [xi.Clone().Detach(), ti.Clone().Detach()], what: "smooth l1");
        GradCheck.Check(xs => F.GaussianNllLoss(xs[0], xs[1], xs[2]), [GradCheck.Rand(7, 2, 3), GradCheck.Rand(8, 2, 3), GradCheck.Rand(9, 0.3f, 2f, 2, 3)], what: "gaussian nll");
    }

    // ───────────────────── cross-entropy / nll ─────────────────────

    /// <summary>PyTorch's cross_entropy for class indices, in double: (N, C, inner) logits, targets (N, inner).</summary>
    static (double[] perElement, double weightSum) CrossEntropyReference(double[] logits, int[] targets, int N, int C, int inner,
        double eps, double[]? w, int ignoreIndex)
    {
        var loss = new double[N * inner];
        double weightSum = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < inner; i++)
            {
                int t = targets[n * inner + i];
                if (t == ignoreIndex) continue;
                var z = Enumerable.Range(0, C).Select(c => logits[(n * C + c) * inner + i]).ToArray();
                double m = z.Max(), lse = m + Math.Log(z.Sum(v => Math.Exp(v - m)));
                double Wc(int c) => w == null ? 1 : w[c];
                double nll = -Wc(t) * (z[t] - lse);
                double smooth = Enumerable.Range(0, C).Sum(c => -Wc(c) * (z[c] - lse));
                loss[n * inner + i] = (1 - eps) * nll + eps / C * smooth;
                weightSum += Wc(t);
            }
        return (loss, weightSum);
    }

    [Test]
    public void CrossEntropy_HandComputedValues()
    {
        var logits = Tensor.FromArray(new float[] { 1, 2, 3 }, 1, 3);
        var target = Tensor.FromArray(new[] { 2 }, 1);
        double lse = Math.Log(Math.E + Math.Exp(2) + Math.Exp(3));
        Assert.That(F.CrossEntropy(logits, target).Item(), Is.EqualTo(lse - 3).Within(1e-6));
        // Smoothing ε = 0.1: 0.9·(lse − 3) + 0.1/3·Σ_c(lse − z_c) = 0.9·(lse − 3) + 0.1·(lse − 2).
        Assert.That(F.CrossEntropy(logits, target, labelSmoothing: 0.1f).Item(), Is.EqualTo(0.9 * (lse - 3) + 0.1 * (lse - 2)).Within(1e-6));
        // Unbatched (C,) logits with a 0-d target.
        var scalarTarget = Tensor.FromArray(new[] { 2 }, 1).Reshape(); // 0-d
        Assert.That(F.CrossEntropy(logits.Reshape(3), scalarTarget, reduction: Reduction.None).Rank, Is.EqualTo(0));
        Assert.That(F.CrossEntropy(logits.Reshape(3), scalarTarget).Item(), Is.EqualTo(lse - 3).Within(1e-6));
        // Uniform logits: log C.
        Assert.That(F.CrossEntropy(Tensor.Zeros(2, 5), Tensor.FromArray(new[] { 0, 4 })).Item(), Is.EqualTo(Math.Log(5)).Within(1e-6));
        // Huge logits stay finite.
        var big = F.CrossEntropy(Tensor.FromArray(new float[] { 1000, 0, -1000 }, 1, 3), Tensor.FromArray(new[] { 1 }, 1)).Item();
        Assert.That(big, Is.EqualTo(1000f).Within(1e-3));
    }

    [Test]
    public void CrossEntropy_ClassIndices_MatchReference_WithWeightsIgnoreAndSmoothing()
    {
        // (N, C, d) = (3, 4, 2) spatial case and (5, 3) plain case.
        foreach (var (N, C, inner) in new[] { (3, 4, 2), (5, 3, 1) })
        {
            int[] shape = inner == 1 ? [N, C] : [N, C, inner];
            int[] tShape = inner == 1 ? [N] : [N, inner];
            var logits = GradCheck.Rand(10 + N, -3f, 3f, shape);
            var r = new Random(N);
            var targets = Enumerable.Range(0, N * inner).Select(_ => r.Next(C)).ToArray();
            targets[1] = -100; // ignored
            var tg = Tensor.FromArray(targets, tShape);
            var w = GradCheck.Rand(20, 0.5f, 2f, C);
            foreach (double eps in new[] { 0.0, 0.2 })
                foreach (bool weighted in new[] { false, true })
                {
                    var (per, wsum) = CrossEntropyReference(D(logits), targets, N, C, inner, eps, weighted ? D(w) : null, -100);
                    AssertReductions(red => F.CrossEntropy(logits, tg, (float)eps, weighted ? w : null, reduction: red), per, wsum);
                }
            // A custom ignoreIndex that is a valid class.
            var (per2, wsum2) = CrossEntropyReference(D(logits), targets.Select(c => c < 0 ? 0 : c).ToArray(), N, C, inner, 0, null, 0);
            var tg0 = Tensor.FromArray(targets.Select(c => c < 0 ? 0 : c).ToArray(), tShape);
            AssertReductions(red => F.CrossEntropy(logits, tg0, ignoreIndex: 0, reduction: red), per2, wsum2);
            // NllLoss on log_softmax is cross-entropy.
            var (per3, wsum3) = CrossEntropyReference(D(logits), targets, N, C, inner, 0, D(w), -100);
            AssertReductions(red => F.NllLoss(logits.LogSoftmax(1), tg, w, reduction: red), per3, wsum3);
        }
        // Every target ignored: mean is 0/0 = NaN (as PyTorch), sum is 0.
        var allIgnored = Tensor.FromArray(new[] { -100, -100 });
        Assert.That(float.IsNaN(F.CrossEntropy(Tensor.Zeros(2, 3), allIgnored).Item()));
        Assert.That(F.CrossEntropy(Tensor.Zeros(2, 3), allIgnored, reduction: Reduction.Sum).Item(), Is.EqualTo(0f));
    }

    [Test]
    public void CrossEntropy_ProbabilityTargets_MatchReference_AndOneHotEqualsIndices()
    {
        int N = 3, C = 4;
        var logits = GradCheck.Rand(30, -2f, 2f, N, C);
        var probs = GradCheck.Rand(31, 0.1f, 1f, N, C);
        probs = probs / probs.Sum(1, keepDim: true);
        var w = GradCheck.Rand(32, 0.5f, 2f, C);
        double[] z = D(logits), p = D(probs), wv = D(w);
        foreach (double eps in new[] { 0.0, 0.3 })
        {
            var per = new double[N];
            for (int n = 0; n < N; n++)
            {
                var row = z.Skip(n * C).Take(C).ToArray();
                double m = row.Max(), lse = m + Math.Log(row.Sum(v => Math.Exp(v - m)));
                for (int c = 0; c < C; c++) per[n] -= wv[c] * ((1 - eps) * p[n * C + c] + eps / C) * (row[c] - lse);
            }
            // Mean divides by the number of samples, not the weights.
            AssertReductions(red => F.CrossEntropy(logits, probs, (float)eps, w, reduction: red), per, N);
        }
        var idx = Tensor.FromArray(new[] { 3, 0, 2 });
        var oneHot = Tensor.FromArray(new float[] { 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0 }, N, C);
        Assert.That(F.CrossEntropy(logits, oneHot, 0.1f).Item(), Is.EqualTo(F.CrossEntropy(logits, idx, 0.1f).Item()).Within(1e-6));
    }

    [Test]
    public void CrossEntropyAndNll_Gradients_FirstAndSecondOrder()
    {
        var tg = Tensor.FromArray(new[] { 2, 0, -100, 1 });
        var w = Tensor.FromArray(new float[] { 0.5f, 1.5f, 1f });
        GradCheck.Check(xs => F.CrossEntropy(xs[0], tg), [GradCheck.Rand(40, 4, 3)], what: "cross_entropy");
        GradCheck.Check(xs => F.CrossEntropy(xs[0], tg, 0.2f, w, reduction: Reduction.None), [GradCheck.Rand(41, 4, 3)], what: "cross_entropy weighted smoothed");
        var spatial = Tensor.FromArray(new[] { 0, 2, 1, 1 }, 2, 2);
        GradCheck.Check(xs => F.CrossEntropy(xs[0], spatial, 0.1f), [GradCheck.Rand(42, 2, 3, 2)], what: "cross_entropy (N, C, d)");
        GradCheck.Check(xs => F.CrossEntropy(xs[0], xs[1].Softmax(1)), [GradCheck.Rand(43, 3, 4), GradCheck.Rand(44, 3, 4)], what: "cross_entropy probs");
        GradCheck.Check(xs => F.NllLoss(xs[0], tg, w), [GradCheck.Rand(45, 4, 3)], what: "nll");
        GradCheck.CheckSecondOrder(xs => F.CrossEntropy(xs[0], tg, 0.1f, w), [GradCheck.Rand(46, 4, 3)], what: "cross_entropy");
        GradCheck.CheckSecondOrder(xs => F.CrossEntropy(xs[0], xs[1].Softmax(1)), [GradCheck.Rand(47, 2, 3), GradCheck.Rand(48, 2, 3)], what: "cross_entropy probs");
    }

    [Test]
    public void CrossEntropy_BadTargets_ThrowWithShapesAndValues()
    {
        var logits = Tensor.Zeros(4, 3);
        var e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2 })));
        Assert.That(e!.Message, Does.Contain("(3,)").And.Contain("(4, 3)").And.Contain("(4,)"));
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 3, 2 })));
        Assert.That(e!.Message, Does.Contain("target 3").And.Contain("[0, 3)").And.Contain("(4, 3)"));
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, -1, 1, 2 })));
        Assert.That(e!.Message, Does.Contain("target -1"));
        // Float targets must then be probabilities of the logits' shape.
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new float[] { 0, 1, 2, 1 })));
        Assert.That(e!.Message, Does.Contain("(4,)").And.Contain("(4, 3)"));
        e = Assert.Throws<ArgumentException>(() => F.NllLoss(logits, Tensor.FromArray(new float[] { 0, 1, 2, 1 })));
        Assert.That(e!.Message, Does.Contain("Float32").And.Contain("Int32"));
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2, 1 }), classWeights: Tensor.Ones(4)));
        Assert.That(e!.Message, Does.Contain("(4,)").And.Contain("(3,)"));
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Zeros(2, 3, 5), Tensor.FromArray(new[] { 0, 1 })));
        Assert.That(e!.Message, Does.Contain("(2, 5)"));
        Assert.Throws<ArgumentException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2, 1 }), labelSmoothing: 1.5f));
    }

    // ───────────────────── binary ─────────────────────

    [Test]
    public void BinaryCrossEntropy_MatchesLoop_AndClampsLogAtMinus100()
    {
        var p = GradCheck.Rand(50, 0.02f, 0.98f, 3, 4);
        var y = GradCheck.Rand(51, 0f, 1f, 3, 4);
        var w = GradCheck.Rand(52, 0.5f, 2f, 3, 4);
        double[] pv = D(p), yv = D(y), wv = D(w);
        AssertReductions(r => F.BinaryCrossEntropy(p, y, w, r),
            Enumerable.Range(0, 12).Select(i => -wv[i] * (yv[i] * Math.Log(pv[i]) + (1 - yv[i]) * Math.Log(1 - pv[i]))).ToArray());
        // p = 0 with y = 1 and p = 1 with y = 0 cost 100 (the clamped log); gradients stay finite.
        var edge = Tensor.FromArray(new float[] { 0, 1, 0, 1 }).RequiresGrad_();
        var target = Tensor.FromArray(new float[] { 1, 0, 0, 1 });
        var l = F.BinaryCrossEntropy(edge, target, reduction: Reduction.None);
        Assert.That(l.ToArray(), Is.EqualTo(new float[] { 100, 100, 0, 0 }).Within(1e-4f));
        l.Sum().Backward();
        Assert.That(edge.Grad!.ToArray().All(float.IsFinite), $"finite gradient at p ∈ {{0, 1}}: {edge.Grad}");
        GradCheck.Check(xs => F.BinaryCrossEntropy(xs[0], xs[1]), [GradCheck.Rand(53, 0.1f, 0.9f, 2, 3), GradCheck.Rand(54, 0f, 1f, 2, 3)], what: "bce");
        GradCheck.CheckSecondOrder(xs => F.BinaryCrossEntropy(xs[0], xs[1]), [GradCheck.Rand(55, 0.2f, 0.8f, 2, 2), GradCheck.Rand(56, 0f, 1f, 2, 2)], what: "bce");
        var e = Assert.Throws<ArgumentException>(() => F.BinaryCrossEntropy(Tensor.FromArray(new float[] { 0.5f, 1.5f }), Tensor.Zeros(2)));
        Assert.That(e!.Message, Does.Contain("1.5").And.Contain("(2,)"));
    }

    [Test]
    public void BinaryCrossEntropyWithLogits_EqualsBceOfSigmoid_AndIsStableAtHugeLogits()
    {
        var x = GradCheck.Rand(60, -4f, 4f, 3, 4);
        var y = GradCheck.Rand(61, 0f, 1f, 3, 4);
        Assert.That(F.BinaryCrossEntropyWithLogits(x, y, reduction: Reduction.None).ToArray(),
            Is.EqualTo(F.BinaryCrossEntropy(x.Sigmoid(), y, reduction: Reduction.None).ToArray()).Within(1e-5f));
        // Against a double loop, with a per-class posWeight (broadcast over the last dim) and element weights.
        var pw = GradCheck.Rand(62, 0.5f, 3f, 4);
        var w = GradCheck.Rand(63, 0.5f, 2f, 3, 4);
        double[] xv = D(x), yv = D(y), pwv = D(pw), wv = D(w);
        double LogSigmoid(double v) => -Math.Log(1 + Math.Exp(-v));
        AssertReductions(r => F.BinaryCrossEntropyWithLogits(x, y, pw, w, r),
            Enumerable.Range(0, 12).Select(i => -wv[i] * (pwv[i % 4] * yv[i] * LogSigmoid(xv[i]) + (1 - yv[i]) * LogSigmoid(-xv[i]))).ToArray());
        // |x| = 100: loss 100 where the sign is wrong, 0 where it is right; gradient σ(x) − y.
        var big = Tensor.FromArray(new float[] { 100, -100, 100, -100 }).RequiresGrad_();
        var t = Tensor.FromArray(new float[] { 0, 1, 1, 0 });
        var l = F.BinaryCrossEntropyWithLogits(big, t, reduction: Reduction.None);
        Assert.That(l.ToArray(), Is.EqualTo(new float[] { 100, 100, 0, 0 }).Within(1e-4f));
        l.Sum().Backward();
        Assert.That(big.Grad!.ToArray(), Is.EqualTo(new float[] { 1, -1, 0, 0 }).Within(1e-6f));
        var pwBig = F.BinaryCrossEntropyWithLogits(big.Detach(), t, Tensor.Full([4], 2f), reduction: Reduction.None).ToArray();
        Assert.That(pwBig, Is.EqualTo(new float[] { 100, 200, 0, 0 }).Within(1e-4f));
    }

    [Test]
    public void BinaryCrossEntropyWithLogits_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.BinaryCrossEntropyWithLogits(xs[0], xs[1]), [GradCheck.Rand(64, -3f, 3f, 2, 3), GradCheck.Rand(65, 0f, 1f, 2, 3)], what: "bce logits");
        GradCheck.Check(xs => F.BinaryCrossEntropyWithLogits(xs[0], xs[1], xs[2], reduction: Reduction.None),
            [GradCheck.Rand(66, -3f, 3f, 2, 3), GradCheck.Rand(67, 0f, 1f, 2, 3), GradCheck.Rand(68, 0.5f, 2f, 3)], what: "bce logits posWeight");
        GradCheck.CheckSecondOrder(xs => F.BinaryCrossEntropyWithLogits(xs[0], xs[1]), [GradCheck.Rand(69, -2f, 2f, 2, 3), GradCheck.Rand(70, 0f, 1f, 2, 3)], what: "bce logits");
        GradCheck.CheckSecondOrder(xs => F.BinaryCrossEntropyWithLogits(xs[0], xs[1], xs[2]),
            [GradCheck.Rand(71, -2f, 2f, 2, 3), GradCheck.Rand(72, 0f, 1f, 2, 3), GradCheck.Rand(73, 0.5f, 2f, 3)], what: "bce logits posWeight");
    }

    // ───────────────────── KL ─────────────────────

    [Test]
    public void KlDivGaussians_MatchesClosedForm_AndGradients()
    {
        var mu1 = GradCheck.Rand(80, 2, 3); var lv1 = GradCheck.Rand(81, 2, 3);
        var mu2 = GradCheck.Rand(82, 2, 3); var lv2 = GradCheck.Rand(83, 2, 3);
        double[] m1 = D(mu1), l1 = D(lv1), m2 = D(mu2), l2 = D(lv2);
        // KL(N(m1, s1²) ‖ N(m2, s2²)) = log(s2/s1) + (s1² + (m1 − m2)²)/(2·s2²) − ½.
        double Kl(double a, double la, double b, double lb)
        {
            double s1 = Math.Exp(la / 2), s2 = Math.Exp(lb / 2);
            return Math.Log(s2 / s1) + (s1 * s1 + (a - b) * (a - b)) / (2 * s2 * s2) - 0.5;
        }
        AssertReductions(r => F.KlDivGaussians(mu1, lv1, mu2, lv2, r), Enumerable.Range(0, 6).Select(i => Kl(m1[i], l1[i], m2[i], l2[i])).ToArray());
        AssertReductions(r => F.KlDivGaussians(mu1, lv1, reduction: r), Enumerable.Range(0, 6).Select(i => Kl(m1[i], l1[i], 0, 0)).ToArray());
        Assert.That(F.KlDivGaussians(mu1, lv1, mu1, lv1, Reduction.Sum).Item(), Is.EqualTo(0f).Within(1e-6), "KL(p‖p) = 0");
        GradCheck.Check(xs => F.KlDivGaussians(xs[0], xs[1], xs[2], xs[3], Reduction.None), [mu1, lv1, mu2, lv2], what: "kl");
        GradCheck.Check(xs => F.KlDivGaussians(xs[0], xs[1]), [GradCheck.Rand(84, 2, 3), GradCheck.Rand(85, 2, 3)], what: "kl prior");
        GradCheck.CheckSecondOrder(xs => F.KlDivGaussians(xs[0], xs[1], xs[2], xs[3]),
            [GradCheck.Rand(86, 2, 2), GradCheck.Rand(87, 2, 2), GradCheck.Rand(88, 2, 2), GradCheck.Rand(89, 2, 2)], what: "kl");
        GradCheck.CheckSecondOrder(xs => F.KlDivGaussians(xs[0], xs[1], reduction: Reduction.Sum), [GradCheck.Rand(90, 2, 3), GradCheck.Rand(91, 2, 3)], what: "kl prior");
    }

    [Test]
    public void ShapeMismatch_NamesBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => F.MseLoss(Tensor.Zeros(2, 3), Tensor.Zeros(3, 2)));
        Assert.That(e!.Message, Does.Contain("mse_loss").And.Contain("(2, 3)").And.Contain("(3, 2)"));
        e = Assert.Throws<ArgumentException>(() => F.BinaryCrossEntropyWithLogits(Tensor.Zeros(2, 3), Tensor.Zeros(2, 3), Tensor.Ones(4)));
        Assert.That(e!.Message, Does.Contain("(4,)").And.Contain("(2, 3)"));
        e = Assert.Throws<ArgumentException>(() => F.GaussianNllLoss(Tensor.Zeros(2, 3), Tensor.Zeros(2, 3), Tensor.Ones(3, 1)));
        Assert.That(e!.Message, Does.Contain("(3, 1)").And.Contain("(2, 3)"));
    }
}
