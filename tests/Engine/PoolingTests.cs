// Tests for engine/NN/Functional.Index.cs: embedding, avg/max/adaptive pooling, nearest/bilinear
// upsampling and padding. References are plain loops over PyTorch's documented rules, plus small
// hand-computed cases; gradients are checked by finite differences (second order where the op may
// sit under create-graph).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~PoolingTests"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class PoolingTests
{
    // ───────────── embedding ─────────────

    [Test]
    public void Embedding_Forward_PicksRows_AndRepeatedIdsAccumulateGradient()
    {
        var weight = GradCheck.Rand(1, 5, 3).RequiresGrad_();
        var ids = Tensor.FromArray(new[] { 4, 1, 4, 0, 4, 2 }, 2, 3);
        var y = F.Embedding(ids, weight);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 3 }));
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int d = 0; d < 3; d++)
            Assert.That(y[i, j, d], Is.EqualTo(weight[(int)ids[i, j], d]));
        y.Sum().Backward();
        // Row 4 is used three times, row 3 never.
        var expectedCount = new[] { 1f, 1f, 1f, 0f, 3f };
        for (int v = 0; v < 5; v++) for (int d = 0; d < 3; d++)
            Assert.That(weight.Grad![v, d], Is.EqualTo(expectedCount[v]));
    }

    [Test]
    public void Embedding_Gradients_FirstAndSecondOrder()
    {
        var ids = Tensor.FromArray(new[] { 3, 1, 3, 0 }, 4);
        GradCheck.Check(xs => F.Embedding(ids, xs[0]), [GradCheck.Rand(2, 4, 3)], what: "embedding");
        GradCheck.CheckSecondOrder(xs => F.Embedding(ids, xs[0]).Tanh(), [GradCheck.Rand(2, 4, 3)], what: "embedding");
    }

    // ───────────── average pooling ─────────────

    /// <summary>avg_pool2d by definition: zero padding, divide by k² (count_include_pad).</summary>
    static double[,,,] AvgPoolReference(Tensor x, int k, int s, int p)
    {
        int N = x.Shape[0], C = x.Shape[1], H = x.Shape[2], W = x.Shape[3];
        int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
        var y = new double[N, C, Ho, Wo];
        for (int n = 0; n < N; n++) for (int c = 0; c < C; c++)
            for (int i = 0; i < Ho; i++) for (int j = 0; j < Wo; j++)
            {
                double sum = 0;
                for (int a = 0; a < k; a++) for (int b = 0; b < k; b++)
                {
                    int h = i * s - p + a, w = j * s - p + b;
                    if (h >= 0 && h < H && w >= 0 && w < W) sum += x[n, c, h, w];
                }
                y[n, c, i, j] = sum / (k * k);
            }
        return y;
    }

    static void AssertClose(Tensor y, double[,,,] expected, double tol = 1e-5)
    {
        for (int d = 0; d < 4; d++) Assert.That(y.Shape[d], Is.EqualTo(expected.GetLength(d)), $"dimension {d}");
        for (int n = 0; n < expected.GetLength(0); n++) for (int c = 0; c < expected.GetLength(1); c++)
            for (int i = 0; i < expected.GetLength(2); i++) for (int j = 0; j < expected.GetLength(3); j++)
                Assert.That(y[n, c, i, j], Is.EqualTo(expected[n, c, i, j]).Within(tol), $"({n},{c},{i},{j})");
    }

    [TestCase(2, 2, 0)] [TestCase(3, 2, 1)] [TestCase(3, 1, 1)] [TestCase(2, 3, 1)]
    public void AvgPool2d_Forward_MatchesLoopReference(int k, int s, int p)
    {
        var x = GradCheck.Rand(1, 2, 3, 7, 6);
        AssertClose(F.AvgPool2d(x, k, s, p), AvgPoolReference(x, k, s, p));
    }

    [Test]
    public void AvgPool2d_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.AvgPool2d(xs[0], 3, 2, 1), [GradCheck.Rand(1, 2, 2, 5, 6)], what: "avg_pool2d");
        GradCheck.Check(xs => F.AvgPool2d(xs[0], 2), [GradCheck.Rand(1, 1, 2, 4, 4)], what: "avg_pool2d k2");
        GradCheck.CheckSecondOrder(xs => F.AvgPool2d(xs[0], 3, 2, 1).Tanh(), [GradCheck.Rand(1, 1, 2, 5, 4)], what: "avg_pool2d");
    }

    [TestCase(7, 6, 3, 4)] [TestCase(4, 4, 1, 1)] [TestCase(3, 2, 5, 4)] [TestCase(6, 6, 3, 3)]
    public void AdaptiveAvgPool2d_Forward_MatchesPyTorchWindowRule(int H, int W, int outH, int outW)
    {
        var x = GradCheck.Rand(3, 2, 2, H, W);
        var y = F.AdaptiveAvgPool2d(x, (outH, outW));
        var expected = new double[2, 2, outH, outW];
        for (int n = 0; n < 2; n++) for (int c = 0; c < 2; c++)
            for (int i = 0; i < outH; i++) for (int j = 0; j < outW; j++)
            {
                int h0 = (int)Math.Floor((double)i * H / outH), h1 = (int)Math.Ceiling((double)(i + 1) * H / outH);
                int w0 = (int)Math.Floor((double)j * W / outW), w1 = (int)Math.Ceiling((double)(j + 1) * W / outW);
                double sum = 0;
                for (int h = h0; h < h1; h++) for (int w = w0; w < w1; w++) sum += x[n, c, h, w];
                expected[n, c, i, j] = sum / ((h1 - h0) * (w1 - w0));
            }
        AssertClose(y, expected);
    }

    [Test]
    public void AdaptiveAvgPool2d_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.AdaptiveAvgPool2d(xs[0], (3, 2)), [GradCheck.Rand(4, 1, 2, 5, 5)], what: "adaptive_avg_pool2d");
        GradCheck.CheckSecondOrder(xs => F.AdaptiveAvgPool2d(xs[0], (2, 3)).Tanh(), [GradCheck.Rand(4, 1, 2, 5, 4)], what: "adaptive_avg_pool2d");
    }

    // ───────────── max pooling ─────────────

    /// <summary>Distinct values 0.1 apart in shuffled order: no ties, and ±2h perturbations never reorder them.</summary>
    static Tensor NoTies(int seed, params int[] shape)
    {
        int n = ShapeUtil.Numel(shape);
        var v = Enumerable.Range(0, n).Select(i => (i - n / 2) * 0.1f).ToArray();
        new Random(seed).Shuffle(v);
        return Tensor.FromArray(v, shape);
    }

    [TestCase(2, 2, 0)] [TestCase(3, 2, 1)] [TestCase(3, 1, 0)]
    public void MaxPool2d_Forward_MatchesLoopReference_AndIndicesPointAtTheMax(int k, int s, int p)
    {
        var x = GradCheck.Rand(5, 2, 2, 7, 6);
        int H = 7, W = 6, Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
        var (y, idx) = F.MaxPool2dWithIndices(x, (k, k), (s, s), (p, p));
        Assert.That(idx.DType, Is.EqualTo(DType.Int32));
        var expected = new double[2, 2, Ho, Wo];
        for (int n = 0; n < 2; n++) for (int c = 0; c < 2; c++)
            for (int i = 0; i < Ho; i++) for (int j = 0; j < Wo; j++)
            {
                double best = double.NegativeInfinity;
                for (int a = 0; a < k; a++) for (int b = 0; b < k; b++)
                {
                    int h = i * s - p + a, w = j * s - p + b;
                    if (h >= 0 && h < H && w >= 0 && w < W) best = Math.Max(best, x[n, c, h, w]);
                }
                expected[n, c, i, j] = best;
                int at = (int)idx[n, c, i, j];
                Assert.That(x[n, c, at / W, at % W], Is.EqualTo(y[n, c, i, j]));
            }
        AssertClose(y, expected, 0);
        Assert.That(F.MaxPool2d(x, k, s, p).ToArray(), Is.EqualTo(y.ToArray()));
    }

    [Test]
    public void MaxPool2d_Backward_MatchesFiniteDifferences_AwayFromTies()
    {
        GradCheck.Check(xs => F.MaxPool2d(xs[0], 2), [NoTies(1, 1, 2, 4, 6)], what: "max_pool2d k2");
        GradCheck.Check(xs => F.MaxPool2d(xs[0], 3, 2, 1), [NoTies(2, 2, 1, 5, 5)], what: "max_pool2d overlapping windows, padding");
        // Second order: d/dx of a gradient routed through ScatterAdd/Gather.
        GradCheck.CheckSecondOrder(xs => F.MaxPool2d(xs[0], 2).Tanh(), [NoTies(3, 1, 1, 4, 4)], what: "max_pool2d");
    }

    // ───────────── upsampling ─────────────

    [Test]
    public void Upsample_Nearest_2x_RepeatsEachPixel()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, 1, 1, 2, 2);
        var y = F.Upsample(x, 2f);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 1f, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }));
    }

    [Test]
    public void Interpolate_Nearest_UsesFloorOfDstTimesInOverOut()
    {
        // 3 → 5: src = ⌊dst·3/5⌋ = 0, 0, 1, 1, 2.   4 → 3: src = ⌊dst·4/3⌋ = 0, 1, 2.
        var x = Tensor.FromArray(new[] { 10f, 20f, 30f }, 1, 1, 1, 3);
        Assert.That(F.Interpolate(x, (1, 5)).ToArray(), Is.EqualTo(new[] { 10f, 10, 20, 20, 30 }));
        var x4 = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, 1, 1, 4, 1);
        Assert.That(F.Interpolate(x4, (3, 1)).ToArray(), Is.EqualTo(new[] { 1f, 2, 3 }));
    }

    [Test]
    public void Upsample_Bilinear_2x2To4x4_MatchesPyTorchAlignCornersFalse()
    {
        // Row [1, 2] → [1, 1.25, 1.75, 2] (src = (dst + ½)·½ − ½, clamped at 0). Input 1 + j + 2i is
        // linear, so the output is 1 + t_j + 2·t_i with t = (0, ¼, ¾, 1).
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, 1, 1, 2, 2);
        var y = F.Upsample(x, 2f, "bilinear");
        var t = new[] { 0f, 0.25f, 0.75f, 1f };
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++)
            Assert.That(y[0, 0, i, j], Is.EqualTo(1 + t[j] + 2 * t[i]).Within(1e-6), $"({i},{j})");
        var row = F.Interpolate(Tensor.FromArray(new[] { 1f, 2f }, 1, 1, 1, 2), (1, 4), "bilinear");
        Assert.That(row.ToArray(), Is.EqualTo(new[] { 1f, 1.25f, 1.75f, 2f }).Within(1e-6f));
        // align_corners=true puts the corners on the corners: 2 → 3 gives [1, 1.5, 2].
        var ac = F.Interpolate(Tensor.FromArray(new[] { 1f, 2f }, 1, 1, 1, 2), (1, 3), "bilinear", alignCorners: true);
        Assert.That(ac.ToArray(), Is.EqualTo(new[] { 1f, 1.5f, 2f }).Within(1e-6f));
    }

    [TestCase(3, 4, 7, 5, false)] [TestCase(5, 6, 3, 4, false)] [TestCase(3, 4, 7, 5, true)]
    public void Interpolate_Bilinear_MatchesFourTapLoopReference(int H, int W, int Ho, int Wo, bool alignCorners)
    {
        var x = GradCheck.Rand(6, 2, 2, H, W);
        var y = F.Interpolate(x, (Ho, Wo), "bilinear", alignCorners);
        double Src(int dst, int inSize, int outSize) => alignCorners
            ? (outSize > 1 ? dst * (inSize - 1.0) / (outSize - 1) : 0)
            : Math.Max((dst + 0.5) * inSize / outSize - 0.5, 0);
        var expected = new double[2, 2, Ho, Wo];
        for (int n = 0; n < 2; n++) for (int c = 0; c < 2; c++)
            for (int i = 0; i < Ho; i++) for (int j = 0; j < Wo; j++)
            {
                double sh = Src(i, H, Ho), sw = Src(j, W, Wo);
                int h0 = (int)sh, w0 = (int)sw, h1 = Math.Min(h0 + 1, H - 1), w1 = Math.Min(w0 + 1, W - 1);
                double lh = sh - h0, lw = sw - w0;
                expected[n, c, i, j] = (1 - lh) * ((1 - lw) * x[n, c, h0, w0] + lw * x[n, c, h0, w1])
                                     + lh * ((1 - lw) * x[n, c, h1, w0] + lw * x[n, c, h1, w1]);
            }
        AssertClose(y, expected);
    }

    [Test]
    public void Upsample_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.Upsample(xs[0], 2f), [GradCheck.Rand(7, 1, 2, 2, 3)], what: "nearest 2x");
        GradCheck.Check(xs => F.Interpolate(xs[0], (5, 4)), [GradCheck.Rand(7, 1, 1, 3, 3)], what: "nearest to (5, 4)");
        GradCheck.Check(xs => F.Upsample(xs[0], 2f, "bilinear"), [GradCheck.Rand(8, 1, 2, 3, 2)], what: "bilinear 2x");
        GradCheck.Check(xs => F.Interpolate(xs[0], (2, 5), "bilinear", alignCorners: true), [GradCheck.Rand(8, 1, 1, 4, 3)], what: "bilinear align_corners");
        GradCheck.CheckSecondOrder(xs => F.Upsample(xs[0], 2f, "bilinear").Tanh(), [GradCheck.Rand(9, 1, 1, 3, 2)], what: "bilinear");
        GradCheck.CheckSecondOrder(xs => F.Upsample(xs[0], 2f).Tanh(), [GradCheck.Rand(9, 1, 2, 3, 2)], what: "nearest 2x");
        GradCheck.CheckSecondOrder(xs => F.Interpolate(xs[0], (2, 5)).Tanh(), [GradCheck.Rand(9, 2, 1, 3, 3)], what: "nearest to (2, 5)");
    }

    // ───────────── padding ─────────────

    [Test]
    public void Pad_1d_ReflectReplicateConstant_MatchPyTorchExamples()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, 1, 1, 4);
        Assert.That(F.Pad(x, [2, 1], "reflect").ToArray(), Is.EqualTo(new[] { 3f, 2, 1, 2, 3, 4, 3 }));
        Assert.That(F.Pad(x, [2, 1], "replicate").ToArray(), Is.EqualTo(new[] { 1f, 1, 1, 2, 3, 4, 4 }));
        Assert.That(F.Pad(x, [1, 2], "constant", 9f).ToArray(), Is.EqualTo(new[] { 9f, 1, 2, 3, 4, 9, 9 }));
        Assert.That(F.Pad(x, [-1, 1]).ToArray(), Is.EqualTo(new[] { 2f, 3, 4, 0 }), "negative constant pad crops");
    }

    [TestCase("reflect")] [TestCase("replicate")] [TestCase("constant")]
    public void Pad_2d_MatchesLoopReference(string mode)
    {
        var x = GradCheck.Rand(10, 2, 1, 3, 4);
        int left = 2, right = 1, top = 1, bottom = 2;
        var y = F.Pad(x, [left, right, top, bottom], mode, 0.5f);
        int H = 3, W = 4;
        int Src(int i, int n, out bool inside)
        {
            inside = i >= 0 && i < n;
            if (mode == "reflect") return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
            return Math.Clamp(i, 0, n - 1);
        }
        var expected = new double[2, 1, H + top + bottom, W + left + right];
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < H + top + bottom; i++) for (int j = 0; j < W + left + right; j++)
            {
                int h = Src(i - top, H, out bool ih), w = Src(j - left, W, out bool iw);
                expected[n, 0, i, j] = mode == "constant" && !(ih && iw) ? 0.5 : x[n, 0, h, w];
            }
        AssertClose(y, expected, 0);
    }

    [Test]
    public void Pad_Gradients_FirstOrder()
    {
        foreach (var mode in new[] { "reflect", "replicate", "constant" })
            GradCheck.Check(xs => F.Pad(xs[0], [2, 1, 1, 2], mode), [GradCheck.Rand(11, 1, 2, 3, 3)], what: $"pad {mode}");
    }

    // ───────────── bad inputs ─────────────

    [Test]
    public void BadInputs_Throw_NamingShapes()
    {
        var x = GradCheck.Rand(1, 1, 1, 3, 4);
        var ex = Assert.Throws<ArgumentException>(() => F.Pad(x, [4, 0], "reflect"));
        Assert.That(ex!.Message, Does.Contain("reflect").And.Contain("size 4").And.Contain("(1, 1, 3, 4)"));
        ex = Assert.Throws<ArgumentException>(() => F.Pad(x, [1, 1, 1]));
        Assert.That(ex!.Message, Does.Contain("even"));
        ex = Assert.Throws<ArgumentException>(() => F.Pad(x, [1, 1], "wrap"));
        Assert.That(ex!.Message, Does.Contain("wrap"));
        ex = Assert.Throws<ArgumentException>(() => F.AvgPool2d(GradCheck.Rand(1, 3, 4), 2));
        Assert.That(ex!.Message, Does.Contain("(3, 4)").And.Contain("4-D"));
        ex = Assert.Throws<ArgumentException>(() => F.MaxPool2d(x, 5));
        Assert.That(ex!.Message, Does.Contain("kernel 5"));
        ex = Assert.Throws<ArgumentException>(() => F.MaxPool2d(x, 2, 2, 2));
        Assert.That(ex!.Message, Does.Contain("padding 2"));
        ex = Assert.Throws<ArgumentException>(() => F.Upsample(x, 2f, "bicubic"));
        Assert.That(ex!.Message, Does.Contain("bicubic"));
        ex = Assert.Throws<ArgumentException>(() => F.Embedding(Tensor.FromArray(new[] { 0f }, 1), GradCheck.Rand(1, 3, 2)));
        Assert.That(ex!.Message, Does.Contain("Int32"));
        var oor = Assert.Throws<ArgumentOutOfRangeException>(() => F.Embedding(Tensor.FromArray(new[] { 3 }, 1), GradCheck.Rand(1, 3, 2)));
        Assert.That(oor!.Message, Does.Contain("index 3").And.Contain("size 3"));
    }
}
