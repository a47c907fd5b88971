// Tests for engine/NN/Functional.Layers.cs: F.Linear, F.LayerNorm, F.GroupNorm, F.BatchNorm and
// F.ScaledDotProductAttention — forward against plain double-precision loops written here, first-
// and second-order gradient checks (tests/Support/GradCheck.cs, default tolerances), bad shapes.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.NN;

public class FunctionalLayersTests
{
    // ───────────────────── references ─────────────────────

    /// <summary>Normalises consecutive blocks of <paramref name="n"/> values (biased variance), in double.</summary>
    static double[] NormalizeBlocks(float[] x, int n, double eps)
    {
        var y = new double[x.Length];
        for (int b = 0; b < x.Length / n; b++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) mean += x[b * n + i];
            mean /= n;
            for (int i = 0; i < n; i++) var += (x[b * n + i] - mean) * (x[b * n + i] - mean);
            var /= n;
            for (int i = 0; i < n; i++) y[b * n + i] = (x[b * n + i] - mean) / Math.Sqrt(var + eps);
        }
        return y;
    }

    static void AssertClose(float[] actual, double[] expected, double tol = 1e-5)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tol), $"element {i}");
    }

    // ───────────────────── linear ─────────────────────

    [Test]
    public void Linear_Forward_MatchesLoops_OnBatchedInput()
    {
        var x = GradCheck.Rand(1, 2, 3, 4); var w = GradCheck.Rand(2, 5, 4); var b = GradCheck.Rand(3, 5);
        var y = F.Linear(x, w, b);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 5 }));
        var xv = x.ToArray(); var wv = w.ToArray(); var bv = b.ToArray();
        var expected = new double[30];
        for (int r = 0; r < 6; r++)
            for (int o = 0; o < 5; o++)
            {
                double s = bv[o];
                for (int i = 0; i < 4; i++) s += (double)xv[r * 4 + i] * wv[o * 4 + i];
                expected[r * 5 + o] = s;
            }
        AssertClose(y.ToArray(), expected);
        AssertClose(F.Linear(x.Select(0, 0).Select(0, 1), w).ToArray(), expected.Skip(5).Take(5).Select((v, o) => v - bv[o]).ToArray());
    }

    // The CPU path is one GEMM with the bias preloaded into C (addmm); it must agree with the loops on
    // odd sizes (1 row, a prime, K past the GEMM's K block), a transposed weight view, a strided input,
    // and with the composed matmul + add on the gradients of all three inputs.
    [TestCase(1, 7, 3)]
    [TestCase(13, 5, 389)]
    [TestCase(37, 33, 17)]
    public void Linear_Addmm_MatchesLoops_OnOddAndStridedOperands(int rows, int outF, int inF)
    {
        var xBig = GradCheck.Rand(21, rows, inF + 2);
        var x = xBig.Narrow(1, 1, inF);                              // rows stride inF + 2
        var wT = GradCheck.Rand(22, inF, outF);
        var w = wT.T;                                                // (out, in) as a transposed view
        var b = GradCheck.Rand(23, outF);
        var y = F.Linear(x, w, b);
        var xv = x.Contiguous().ToArray(); var wv = w.Contiguous().ToArray(); var bv = b.ToArray();
        var expected = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = bv[o];
                for (int i = 0; i < inF; i++) s += (double)xv[r * inF + i] * wv[o * inF + i];
                expected[r * outF + o] = s;
            }
        AssertClose(y.ToArray(), expected, 1e-4 * Math.Sqrt(inF));

        var xg = x.Contiguous().Detach().RequiresGrad_(); var wg = w.Contiguous().Detach().RequiresGrad_(); var bg = b.Detach().RequiresGrad_();
        var g = GradCheck.Rand(24, rows, outF);
        var fused = Autograd.Grad([F.Linear(xg, wg, bg)], [xg, wg, bg], [g]);
        var composed = Autograd.Grad([xg.MatMul(wg.T) + bg], [xg, wg, bg], [g]);
        for (int k = 0; k < 3; k++)
            AssertClose(fused[k]!.ToArray(), composed[k]!.ToArray().Select(v => (double)v).ToArray(), 1e-5 * Math.Sqrt(rows + inF));
    }

    [Test]
    public void Linear_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.Linear(xs[0], xs[1], xs[2]), [GradCheck.Rand(4, 2, 3, 4), GradCheck.Rand(5, 3, 4), GradCheck.Rand(6, 3)], what: "linear");
        GradCheck.CheckSecondOrder(xs => F.Linear(xs[0], xs[1], xs[2]).Tanh(), [GradCheck.Rand(7, 2, 3), GradCheck.Rand(8, 2, 3), GradCheck.Rand(9, 2)], what: "linear");
    }

    [Test]
    public void Linear_BadShapes_NameTheShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros(2, 3), Tensor.Zeros(5, 4)));
        Assert.That(ex!.Message, Does.Contain("(2, 3)").And.Contain("(5, 4)"));
        ex = Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros(2, 4), Tensor.Zeros(5, 4), Tensor.Zeros(4)));
        Assert.That(ex!.Message, Does.Contain("(4,)"));
    }

    // ───────────────────── layer norm ─────────────────────

    [Test]
    public void LayerNorm_Forward_MatchesLoops_OneAndTwoTrailingDims()
    {
        var x = GradCheck.Rand(10, 3, 2, 5);
        var w = GradCheck.Rand(11, 5); var b = GradCheck.Rand(12, 5);
        var y = F.LayerNorm(x, 5, w, b).ToArray();
        var n = NormalizeBlocks(x.ToArray(), 5, 1e-5);
        var wv = w.ToArray(); var bv = b.ToArray();
        AssertClose(y, n.Select((v, i) => v * wv[i % 5] + bv[i % 5]).ToArray());

        var y2 = F.LayerNorm(x, [2, 5]).ToArray();
        AssertClose(y2, NormalizeBlocks(x.ToArray(), 10, 1e-5));
    }

    [Test]
    public void LayerNorm_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.LayerNorm(xs[0], 4, xs[1], xs[2]), [GradCheck.Rand(13, 3, 4), GradCheck.Rand(14, 4), GradCheck.Rand(15, 4)], what: "layer_norm");
        GradCheck.Check(xs => F.LayerNorm(xs[0], [2, 3]), [GradCheck.Rand(16, 2, 2, 3)], what: "layer_norm 2 dims");
        GradCheck.CheckSecondOrder(xs => F.LayerNorm(xs[0], 4, xs[1], xs[2]), [GradCheck.Rand(17, 2, 4), GradCheck.Rand(18, 4), GradCheck.Rand(19, 4)], what: "layer_norm");
    }

    [Test]
    public void LayerNorm_WrongTrailingShape_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.LayerNorm(Tensor.Zeros(2, 3), 4));
        Assert.That(ex!.Message, Does.Contain("(2, 3)").And.Contain("(4,)"));
    }

    // ───────────────────── group norm ─────────────────────

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    public void GroupNorm_Forward_MatchesLoops(int groups)
    {
        int N = 2, C = 4, S = 6; // spatial 2×3
        var x = GradCheck.Rand(20 + groups, N, C, 2, 3);
        var w = GradCheck.Rand(30, C); var b = GradCheck.Rand(31, C);
        var y = F.GroupNorm(x, groups, w, b).ToArray();
        // (N, C, S) in memory is (N, G, C/G·S) blocks.
        var n = NormalizeBlocks(x.ToArray(), C / groups * S, 1e-5);
        var wv = w.ToArray(); var bv = b.ToArray();
        AssertClose(y, n.Select((v, i) => v * wv[i / S % C] + bv[i / S % C]).ToArray());
    }

    [Test]
    public void GroupNorm_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.GroupNorm(xs[0], 2, xs[1], xs[2]), [GradCheck.Rand(32, 2, 4, 3), GradCheck.Rand(33, 4), GradCheck.Rand(34, 4)], what: "group_norm");
        GradCheck.CheckSecondOrder(xs => F.GroupNorm(xs[0], 2, xs[1], xs[2]), [GradCheck.Rand(35, 1, 4, 3), GradCheck.Rand(36, 4), GradCheck.Rand(37, 4)], what: "group_norm");
    }

    [Test]
    public void GroupNorm_ChannelsNotDivisible_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.GroupNorm(Tensor.Zeros(2, 6, 3), 4));
        Assert.That(ex!.Message, Does.Contain("(2, 6, 3)").And.Contain("4 groups"));
    }

    // ───────────────────── batch norm ─────────────────────

    /// <summary>Per-channel (mean, biased var) of x (N, C, S) in double.</summary>
    static (double[] Mean, double[] Var) ChannelStats(float[] x, int N, int C, int S)
    {
        var mean = new double[C]; var var = new double[C];
        for (int c = 0; c < C; c++)
        {
            for (int n = 0; n < N; n++) for (int s = 0; s < S; s++) mean[c] += x[(n * C + c) * S + s];
            mean[c] /= N * S;
            for (int n = 0; n < N; n++) for (int s = 0; s < S; s++) { double d = x[(n * C + c) * S + s] - mean[c]; var[c] += d * d; }
            var[c] /= N * S;
        }
        return (mean, var);
    }

    [Test]
    public void BatchNorm_Train_NormalisesWithBatchStats_AndUpdatesRunningStatsAsPyTorch()
    {
        int N = 3, C = 2, S = 4;
        var rm = Tensor.Zeros(C); var rv = Tensor.Ones(C);
        var w = GradCheck.Rand(40, C); var b = GradCheck.Rand(41, C);
        double[] erm = [0, 0], erv = [1, 1];
        for (int step = 0; step < 2; step++)
        {
            var x = GradCheck.Rand(42 + step, -1f, 3f, N, C, 2, 2);
            var y = F.BatchNorm(x, rm, rv, w, b, training: true, momentum: 0.1f, eps: 1e-5f).ToArray();
            var xv = x.ToArray();
            var (mean, var) = ChannelStats(xv, N, C, S);
            var expected = new double[xv.Length];
            for (int i = 0; i < xv.Length; i++)
            {
                int c = i / S % C;
                expected[i] = (xv[i] - mean[c]) / Math.Sqrt(var[c] + 1e-5) * w.ToArray()[c] + b.ToArray()[c];
            }
            AssertClose(y, expected);
            // r ← 0.9·r + 0.1·batch, with the unbiased variance var·n/(n−1), n = N·S = 12.
            for (int c = 0; c < C; c++) { erm[c] = 0.9 * erm[c] + 0.1 * mean[c]; erv[c] = 0.9 * erv[c] + 0.1 * var[c] * 12 / 11; }
            AssertClose(rm.ToArray(), erm);
            AssertClose(rv.ToArray(), erv);
        }
    }

    [Test]
    public void BatchNorm_Eval_UsesRunningStats_AndLeavesThemAlone()
    {
        var rm = Tensor.FromArray([0.5f, -1f]); var rv = Tensor.FromArray([2f, 0.25f]);
        var x = GradCheck.Rand(50, 4, 2);
        var y = F.BatchNorm(x, rm, rv, null, null, training: false).ToArray();
        var xv = x.ToArray();
        AssertClose(y, xv.Select((v, i) => (v - (i % 2 == 0 ? 0.5 : -1.0)) / Math.Sqrt((i % 2 == 0 ? 2.0 : 0.25) + 1e-5)).ToArray());
        Assert.That(rm.ToArray(), Is.EqualTo(new[] { 0.5f, -1f }));
        Assert.That(rv.ToArray(), Is.EqualTo(new[] { 2f, 0.25f }));
    }

    [Test]
    public void BatchNorm_Training_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2], training: true), [GradCheck.Rand(51, 4, 3), GradCheck.Rand(52, 3), GradCheck.Rand(53, 3)], what: "batch_norm (N, C)");
        GradCheck.Check(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2], training: true), [GradCheck.Rand(54, 2, 2, 3), GradCheck.Rand(55, 2), GradCheck.Rand(56, 2)], what: "batch_norm (N, C, L)");
        GradCheck.CheckSecondOrder(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2], training: true), [GradCheck.Rand(57, 3, 2), GradCheck.Rand(58, 2), GradCheck.Rand(59, 2)], what: "batch_norm");
    }

    [Test]
    public void BatchNorm_OneValuePerChannelInTraining_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.BatchNorm(Tensor.Zeros(1, 3), null, null));
        Assert.That(ex!.Message, Does.Contain("(1, 3)"));
    }

    // ───────────────────── attention ─────────────────────

    /// <summary>softmax(q·kᵀ/√d + mask)·v in double for q (B, Tq, d), k (B, Tk, d), v (B, Tk, dv), mask (Tq, Tk) or null.</summary>
    static double[] AttentionRef(Tensor q, Tensor k, Tensor v, float[]? mask, bool causal)
    {
        int B = q.Shape[0], Tq = q.Shape[1], d = q.Shape[2], Tk = k.Shape[1], dv = v.Shape[2];
        var qv = q.ToArray(); var kv = k.ToArray(); var vv = v.ToArray();
        var y = new double[B * Tq * dv];
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tq; i++)
            {
                var s = new double[Tk];
                for (int j = 0; j < Tk; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double)qv[(b * Tq + i) * d + c] * kv[(b * Tk + j) * d + c];
                    s[j] = dot / Math.Sqrt(d) + (mask?[i * Tk + j] ?? 0) + (causal && j > i ? double.NegativeInfinity : 0);
                }
                double max = s.Max(), z = s.Sum(t => Math.Exp(t - max));
                for (int j = 0; j < Tk; j++)
                {
                    double p = Math.Exp(s[j] - max) / z;
                    for (int c = 0; c < dv; c++) y[(b * Tq + i) * dv + c] += p * vv[(b * Tk + j) * dv + c];
                }
            }
        return y;
    }

    [Test]
    public void ScaledDotProductAttention_Forward_MatchesLoops_PlainMaskedAndCausal()
    {
        var q = GradCheck.Rand(60, 2, 3, 4); var k = GradCheck.Rand(61, 2, 5, 4); var v = GradCheck.Rand(62, 2, 5, 3);
        AssertClose(F.ScaledDotProductAttention(q, k, v).ToArray(), AttentionRef(q, k, v, null, false));
        var mask = GradCheck.Rand(63, 3, 5).ToArray();
        mask[2] = float.NegativeInfinity; mask[9] = float.NegativeInfinity;
        AssertClose(F.ScaledDotProductAttention(q, k, v, Tensor.FromArray(mask, 3, 5)).ToArray(), AttentionRef(q, k, v, mask, false));
        AssertClose(F.ScaledDotProductAttention(q, k, v, isCausal: true).ToArray(), AttentionRef(q, k, v, null, true));
        // A 0/1 "may attend" mask equals the additive 0/−∞ mask.
        var keep = Tensor.FromArray(mask.Select(m => float.IsNegativeInfinity(m) ? 0f : 1f).ToArray(), 3, 5);
        var blocked = mask.Select(m => float.IsNegativeInfinity(m) ? m : 0f).ToArray();
        AssertClose(F.ScaledDotProductAttention(q, k, v, keep, booleanMask: true).ToArray(), AttentionRef(q, k, v, blocked, false));
    }

    [Test]
    public void ScaledDotProductAttention_Gradients_FirstAndSecondOrder_WithCausalAndAdditiveMasks()
    {
        var mask = GradCheck.Rand(64, 3, 4).ToArray();
        mask[1] = float.NegativeInfinity;
        var m = Tensor.FromArray(mask, 3, 4);
        Tensor[] Inputs(int seed) => [GradCheck.Rand(seed, 2, 3, 2), GradCheck.Rand(seed + 1, 2, 4, 2), GradCheck.Rand(seed + 2, 2, 4, 3)];
        GradCheck.Check(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: true), Inputs(65), what: "sdpa causal");
        GradCheck.Check(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], m), Inputs(68), what: "sdpa additive mask");
        GradCheck.CheckSecondOrder(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: true), Inputs(71), what: "sdpa causal");
        GradCheck.CheckSecondOrder(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], m), Inputs(74), what: "sdpa additive mask");
    }

    [Test]
    public void ScaledDotProductAttention_BadShapes_NameTheShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.ScaledDotProductAttention(Tensor.Zeros(1, 3, 4), Tensor.Zeros(1, 5, 3), Tensor.Zeros(1, 5, 3)));
        Assert.That(ex!.Message, Does.Contain("(1, 3, 4)").And.Contain("(1, 5, 3)"));
        ex = Assert.Throws<ArgumentException>(() => F.ScaledDotProductAttention(Tensor.Zeros(1, 3, 4), Tensor.Zeros(1, 5, 4), Tensor.Zeros(1, 5, 4), Tensor.Zeros(2, 5)));
        Assert.That(ex!.Message, Does.Contain("(2, 5)").And.Contain("(1, 3, 5)"));
    }
}
