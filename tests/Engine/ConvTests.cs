// ConvTests.cs — F.Conv2d / F.Conv1d / F.ConvTranspose2d against direct nested-loop references
// (double accumulation, written here and independent of im2col), the adjoint identities that tie
// the three recorded conv maps together, first- and second-order gradient checks, and bad inputs.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Engine.Conv
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class ConvTests
{
    // ───────────────────── references ─────────────────────

    /// <summary>Direct (gather) convolution: y[n,f,oh,ow] = b[f] + Σ x[n, g·Cg + c, oh·s − p + ki·d, …] · w[f, c, ki, kj].</summary>
    static float[] RefConv2d(Tensor xt, Tensor wt, Tensor? bt, int sh, int sw, int ph, int pw, int dh, int dw, int G,
        out int[] shape)
    {
        var x = xt.ToArray(); var w = wt.ToArray(); var b = bt?.ToArray();
        int N = xt.Shape[0], C = xt.Shape[1], H = xt.Shape[2], W = xt.Shape[3];
        int F = wt.Shape[0], Cg = wt.Shape[1], KH = wt.Shape[2], KW = wt.Shape[3], Fg = F / G;
        int Ho = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
        shape = [N, F, Ho, Wo];
        var y = new float[N * F * Ho * Wo];
        for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
        for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++)
        {
            double s = b?[f] ?? 0;
            int g = f / Fg;
            for (int c = 0; c < Cg; c++)
            for (int ki = 0; ki < KH; ki++)
            for (int kj = 0; kj < KW; kj++)
            {
                int ih = oh * sh - ph + ki * dh, iw = ow * sw - pw + kj * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += (double)x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((f * Cg + c) * KH + ki) * KW + kj];
            }
            y[((n * F + f) * Ho + oh) * Wo + ow] = (float)s;
        }
        return y;
    }

    /// <summary>Transposed convolution in scatter form: every input pixel adds x·w[ci, co] into the output window it touches.</summary>
    static float[] RefConvTranspose2d(Tensor xt, Tensor wt, Tensor? bt, int sh, int sw, int ph, int pw, int oph, int opw,
        int dh, int dw, int G, out int[] shape)
    {
        var x = xt.ToArray(); var w = wt.ToArray(); var b = bt?.ToArray();
        int N = xt.Shape[0], C = xt.Shape[1], H = xt.Shape[2], W = xt.Shape[3];
        int Fg = wt.Shape[1], KH = wt.Shape[2], KW = wt.Shape[3], F = Fg * G, Cg = C / G;
        int Ho = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1, Wo = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
        shape = [N, F, Ho, Wo];
        var acc = new double[N * F * Ho * Wo];
        for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++)
        for (int iw = 0; iw < W; iw++)
        {
            double xv = x[((n * C + c) * H + ih) * W + iw];
            int g = c / Cg;
            for (int fo = 0; fo < Fg; fo++)
            for (int ki = 0; ki < KH; ki++)
            for (int kj = 0; kj < KW; kj++)
            {
                int oh = ih * sh - ph + ki * dh, ow = iw * sw - pw + kj * dw;
                if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                acc[((n * F + g * Fg + fo) * Ho + oh) * Wo + ow] += xv * w[((c * Fg + fo) * KH + ki) * KW + kj];
            }
        }
        var y = new float[acc.Length];
        for (int i = 0; i < y.Length; i++)
            y[i] = (float)(acc[i] + (b?[i / (Ho * Wo) % F] ?? 0));
        return y;
    }

    static double Dot(Tensor a, Tensor b)
    {
        var x = a.ToArray(); var y = b.ToArray();
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += (double)x[i] * y[i];
        return s;
    }

    // float32 dot products of ≤ ~60 O(1) terms: rounding stays well below 1e-5; a wrong index is O(0.1).
    const float Tol = 2e-5f;

    // ───────────────────── forward ─────────────────────

    //        N  Cin H  W  Cout KH KW sh sw ph pw dh dw  G
    [TestCase(1, 3, 7, 7, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, TestName = "Conv2d 3x3 plain, batch 1")]
    [TestCase(3, 3, 7, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, TestName = "Conv2d stride 2 pad 1, batch 3")]
    [TestCase(2, 2, 6, 7, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1, TestName = "Conv2d 5x5 pad 2")]
    [TestCase(2, 3, 9, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, TestName = "Conv2d dilation 2")]
    [TestCase(2, 4, 8, 9, 6, 3, 5, 1, 2, 2, 2, 1, 1, 2, TestName = "Conv2d groups 2, 3x5 kernel, stride (1,2)")]
    [TestCase(3, 4, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, TestName = "Conv2d depthwise")]
    [TestCase(2, 4, 6, 5, 8, 3, 3, 2, 2, 1, 1, 1, 1, 4, TestName = "Conv2d depthwise multiplier 2, stride 2")]
    [TestCase(3, 5, 4, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, TestName = "Conv2d 1x1 fast path")]
    [TestCase(2, 6, 3, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, TestName = "Conv2d 1x1 fast path, groups 2")]
    [TestCase(2, 3, 5, 5, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1, TestName = "Conv2d 1x1 stride 2 (im2col path)")]
    [TestCase(2, 3, 7, 10, 2, 2, 3, 2, 1, 0, 1, 1, 2, 1, TestName = "Conv2d 2x3 kernel, mixed stride/pad/dilation")]
    [TestCase(1, 2, 4, 4, 3, 4, 4, 4, 4, 0, 0, 1, 1, 1, TestName = "Conv2d kernel equals input")]
    [TestCase(2, 16, 24, 23, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, TestName = "Conv2d large enough for the threaded im2col")]
    public void Conv2d_Forward_MatchesDirectReference(int N, int Cin, int H, int W, int Cout, int KH, int KW,
        int sh, int sw, int ph, int pw, int dh, int dw, int G)
    {
        var x = GradCheck.Rand(1, N, Cin, H, W);
        var w = GradCheck.Rand(2, Cout, Cin / G, KH, KW);
        var b = GradCheck.Rand(3, Cout);
        var y = F.Conv2d(x, w, b, stride: (sh, sw), padding: (ph, pw), dilation: (dh, dw), groups: G);
        var r = RefConv2d(x, w, b, sh, sw, ph, pw, dh, dw, G, out var shape);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(shape));
        Assert.That(y.ToArray(), Is.EqualTo(r).Within(Tol));

        var y0 = F.Conv2d(x, w, null, stride: (sh, sw), padding: (ph, pw), dilation: (dh, dw), groups: G);
        var r0 = RefConv2d(x, w, null, sh, sw, ph, pw, dh, dw, G, out _);
        Assert.That(y0.ToArray(), Is.EqualTo(r0).Within(Tol));
    }

    [Test]
    public void Conv2d_IntArguments_AndNonContiguousInput_MatchReference()
    {
        // stride: 2, padding: 1 as plain ints; x as a permuted view exercises the contiguous copy.
        var xp = GradCheck.Rand(4, 2, 5, 6, 3);   // (N, H, W, C)
        var x = xp.Permute(0, 3, 1, 2);           // (N, C, H, W) view
        var w = GradCheck.Rand(5, 4, 3, 3, 3);
        var y = F.Conv2d(x, w, stride: 2, padding: 1);
        var r = RefConv2d(x.Contiguous(), w, null, 2, 2, 1, 1, 1, 1, 1, out var shape);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(shape));
        Assert.That(y.ToArray(), Is.EqualTo(r).Within(Tol));
    }

    //        N Cin L Cout k  s  p  d  G
    [TestCase(1, 3, 9, 4, 3, 1, 0, 1, 1)]
    [TestCase(3, 4, 11, 6, 3, 2, 1, 1, 2)]
    [TestCase(2, 3, 12, 2, 5, 1, 2, 2, 1)]
    [TestCase(2, 4, 7, 4, 1, 1, 0, 1, 4)]
    public void Conv1d_Forward_MatchesDirectReference(int N, int Cin, int L, int Cout, int k, int s, int p, int d, int G)
    {
        var x = GradCheck.Rand(6, N, Cin, L);
        var w = GradCheck.Rand(7, Cout, Cin / G, k);
        var b = GradCheck.Rand(8, Cout);
        var y = F.Conv1d(x, w, b, stride: s, padding: p, dilation: d, groups: G);
        var xa = x.ToArray(); var wa = w.ToArray(); var ba = b.ToArray();
        int Lo = (L + 2 * p - d * (k - 1) - 1) / s + 1, Fg = Cout / G, Cg = Cin / G;
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { N, Cout, Lo }));
        var r = new float[N * Cout * Lo];
        for (int n = 0; n < N; n++) for (int f = 0; f < Cout; f++) for (int o = 0; o < Lo; o++)
        {
            double acc = ba[f];
            for (int c = 0; c < Cg; c++) for (int j = 0; j < k; j++)
            {
                int i = o * s - p + j * d;
                if (i >= 0 && i < L) acc += (double)xa[(n * Cin + f / Fg * Cg + c) * L + i] * wa[(f * Cg + c) * k + j];
            }
            r[(n * Cout + f) * Lo + o] = (float)acc;
        }
        Assert.That(y.ToArray(), Is.EqualTo(r).Within(Tol));
    }

    //        N Cin H  W  Cout KH KW sh sw ph pw oph opw dh dw G
    [TestCase(1, 3, 4, 4, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, TestName = "ConvTranspose2d 3x3 plain")]
    [TestCase(3, 2, 4, 5, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, TestName = "ConvTranspose2d 4x4 s2 p1 (DCGAN), batch 3")]
    [TestCase(2, 3, 3, 4, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, TestName = "ConvTranspose2d stride 2 outputPadding 1")]
    [TestCase(2, 4, 4, 3, 6, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 2, TestName = "ConvTranspose2d groups 2, 3x2 kernel, mixed")]
    [TestCase(2, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2, 0, 0, 2, 2, 1, TestName = "ConvTranspose2d dilation 2 pad 2")]
    [TestCase(2, 4, 3, 5, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, TestName = "ConvTranspose2d 1x1 fast path, groups 2")]
    [TestCase(2, 5, 4, 4, 1, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, TestName = "ConvTranspose2d 4x4 s2 p1 to one channel (DCGAN output, thin tile)")]
    public void ConvTranspose2d_Forward_MatchesScatterReference(int N, int Cin, int H, int W, int Cout, int KH, int KW,
        int sh, int sw, int ph, int pw, int oph, int opw, int dh, int dw, int G)
    {
        var x = GradCheck.Rand(9, N, Cin, H, W);
        var w = GradCheck.Rand(10, Cin, Cout / G, KH, KW);
        var b = GradCheck.Rand(11, Cout);
        var y = F.ConvTranspose2d(x, w, b, stride: (sh, sw), padding: (ph, pw), outputPadding: (oph, opw),
            dilation: (dh, dw), groups: G);
        var r = RefConvTranspose2d(x, w, b, sh, sw, ph, pw, oph, opw, dh, dw, G, out var shape);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(shape));
        Assert.That(y.ToArray(), Is.EqualTo(r).Within(Tol));
    }

    // ───────────────────── adjoints ─────────────────────

    //        Cin H  W  Cout KH KW sh sw ph pw dh dw G
    [TestCase(3, 7, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1)]
    [TestCase(4, 8, 7, 6, 3, 2, 1, 2, 2, 0, 2, 1, 2)]
    [TestCase(4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4)]
    [TestCase(6, 4, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2)]
    [TestCase(16, 24, 23, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1)]   // threaded im2col/col2im
    public void ConvMaps_AreMutualAdjoints(int Cin, int H, int W, int Cout, int KH, int KW,
        int sh, int sw, int ph, int pw, int dh, int dw, int G)
    {
        // ⟨Conv(x, w), y⟩ = ⟨x, ConvInputGrad(y, w)⟩ = ⟨w, ConvWeightGrad(x, y)⟩: one bilinear form.
        var s = new ConvSpec(Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, dh, dw, G);
        const int N = 2;
        var x = GradCheck.Rand(12, s.InputShape(N));
        var w = GradCheck.Rand(13, s.WeightShape);
        var y = GradCheck.Rand(14, s.OutputShape(N));
        double a = Dot(F.Conv(x, w, s), y);
        double bx = Dot(x, F.ConvInputGrad(y, w, s));
        double bw = Dot(w, F.ConvWeightGrad(x, y, s));
        Assert.That(bx, Is.EqualTo(a).Within(1e-4 * (1 + Math.Abs(a))));
        Assert.That(bw, Is.EqualTo(a).Within(1e-4 * (1 + Math.Abs(a))));
    }

    [Test]
    public void Conv2d_ForwardAndBackward_AreBitIdenticalAcrossThreadCounts()
    {
        // Big enough that the GEMMs and im2col/col2im take their threaded paths.
        var x = GradCheck.Rand(15, 3, 16, 24, 24); var w = GradCheck.Rand(16, 24, 16, 3, 3);
        (float[] y, float[] dx, float[] dw) Run()
        {
            var xr = x.Detach().RequiresGrad_(); var wr = w.Detach().RequiresGrad_();
            var y = F.Conv2d(xr, wr, padding: 1);
            (y * y).Sum().Backward();
            return (y.ToArray(), xr.Grad!.ToArray(), wr.Grad!.ToArray());
        }
        int saved = Denoise.Kernels.Cpu.Gemm.MaxThreads;
        try
        {
            Denoise.Kernels.Cpu.Gemm.MaxThreads = 1;
            var one = Run();
            Denoise.Kernels.Cpu.Gemm.MaxThreads = 4;
            var four = Run();
            Assert.That(four.y, Is.EqualTo(one.y));
            Assert.That(four.dx, Is.EqualTo(one.dx));
            Assert.That(four.dw, Is.EqualTo(one.dw));
        }
        finally { Denoise.Kernels.Cpu.Gemm.MaxThreads = saved; }
    }

    // ───────────────────── gradients ─────────────────────

    [Test]
    public void Conv2d_Backward_MatchesFiniteDifferences()
    {
        GradCheck.Check(xs => F.Conv2d(xs[0], xs[1], xs[2], stride: 2, padding: 1),
            [GradCheck.Rand(20, 2, 2, 5, 5), GradCheck.Rand(21, 3, 2, 3, 3), GradCheck.Rand(22, 3)], what: "conv2d s2 p1");
        GradCheck.Check(xs => F.Conv2d(xs[0], xs[1], xs[2], padding: (2, 1), dilation: (2, 1), groups: 2),
            [GradCheck.Rand(23, 1, 4, 5, 4), GradCheck.Rand(24, 4, 2, 2, 3), GradCheck.Rand(25, 4)], what: "conv2d dilated, groups 2");
        GradCheck.Check(xs => F.Conv2d(xs[0], xs[1], xs[2]),
            [GradCheck.Rand(26, 2, 3, 3, 4), GradCheck.Rand(27, 2, 3, 1, 1), GradCheck.Rand(28, 2)], what: "conv2d 1x1");
    }

    /// <summary>Shapes the CPU routes through Winograd (conv V8): 3 × 3, stride 1, 16 → 32 channels (forward F(2 × 2, 3 × 3) and
    /// weight-grad F(3 × 3, 2 × 2)) and 32 → 16 (its input-grad, the adjoint F(2 × 2, 3 × 3)); odd 2 × 3 maps, so tiles
    /// overhang. Small on purpose: the numeric side's float32 rounding noise grows with the terms per output (at 32 → 32
    /// channels on a 3 × 5 map it reaches 1.5e-3 for the direct kernel too, against an exact double-precision gradient),
    /// while Winograd's own error stays at 1e-6–1e-5 (tests/Kernels/Conv2dTests.cs). Without AVX-512 the same checks run V2.</summary>
    [Test]
    public void Conv2d_WinogradShapes_Backward_MatchesFiniteDifferences()
    {
        GradCheck.Check(xs => F.Conv2d(xs[0], xs[1], xs[2], padding: 1),
            [GradCheck.Rand(29, 1, 16, 2, 3), GradCheck.Rand(30, 32, 16, 3, 3), GradCheck.Rand(31, 32)], what: "conv2d 16 -> 32, 3x3 p1 (Winograd forward, weight-grad)");
        GradCheck.Check(xs => F.Conv2d(xs[0], xs[1], xs[2], padding: 1),
            [GradCheck.Rand(32, 1, 32, 2, 3), GradCheck.Rand(33, 16, 32, 3, 3), GradCheck.Rand(34, 16)], what: "conv2d 32 -> 16, 3x3 p1 (Winograd input-grad)");
    }

    [Test]
    public void Conv1d_Backward_MatchesFiniteDifferences()
    {
        GradCheck.Check(xs => F.Conv1d(xs[0], xs[1], xs[2], stride: 2, padding: 1, dilation: 2, groups: 2),
            [GradCheck.Rand(30, 2, 4, 9), GradCheck.Rand(31, 4, 2, 3), GradCheck.Rand(32, 4)], what: "conv1d");
    }

    [Test]
    public void ConvTranspose2d_Backward_MatchesFiniteDifferences()
    {
        GradCheck.Check(xs => F.ConvTranspose2d(xs[0], xs[1], xs[2], stride: 2, padding: 1, outputPadding: 1, groups: 2),
            [GradCheck.Rand(40, 2, 4, 3, 3), GradCheck.Rand(41, 4, 1, 3, 3), GradCheck.Rand(42, 2)], what: "conv_transpose2d s2 op1 g2");
        GradCheck.Check(xs => F.ConvTranspose2d(xs[0], xs[1], xs[2], stride: (1, 2), dilation: (2, 1)),
            [GradCheck.Rand(43, 1, 2, 3, 2), GradCheck.Rand(44, 2, 3, 2, 2), GradCheck.Rand(45, 3)], what: "conv_transpose2d dilated");
    }

    [Test]
    public void Conv2d_SecondOrder_MatchesFiniteDifferences()
    {
        // Tanh makes the upstream gradient depend on x and w, so every backward-of-backward path is used.
        GradCheck.CheckSecondOrder(xs => F.Conv2d(xs[0], xs[1], xs[2], stride: 2, padding: 1, groups: 2).Tanh(),
            [GradCheck.Rand(50, 2, 2, 5, 4), GradCheck.Rand(51, 4, 1, 3, 3), GradCheck.Rand(52, 4)], what: "conv2d");
        // WGAN-GP shape: penalty on the input gradient, differentiated with respect to the weight.
        GradCheck.Check(xs =>
        {
            using (Autograd.EnableGrad())
            {
                var x = xs[0];
                var d = F.Conv2d(x, xs[1], padding: 1).Tanh().Sum();
                var gx = Autograd.Grad([d], [x], createGraph: true)[0]!;
                return (gx * gx).Sum();
            }
        }, [GradCheck.Rand(53, 1, 2, 4, 4), GradCheck.Rand(54, 2, 2, 3, 3)], what: "conv2d gradient penalty");
    }

    [Test]
    public void ConvTranspose2d_SecondOrder_MatchesFiniteDifferences()
    {
        GradCheck.CheckSecondOrder(xs => F.ConvTranspose2d(xs[0], xs[1], xs[2], stride: 2, padding: 1, outputPadding: 1).Tanh(),
            [GradCheck.Rand(60, 2, 2, 3, 2), GradCheck.Rand(61, 2, 2, 3, 3), GradCheck.Rand(62, 2)], what: "conv_transpose2d");
    }

    // ───────────────────── bad inputs ─────────────────────

    [Test]
    public void Conv_BadInputs_ThrowWithShapes()
    {
        var x = Tensor.Zeros(2, 4, 5, 5);
        void Expect(TestDelegate f, params string[] parts)
        {
            var ex = Assert.Throws<ArgumentException>(f);
            foreach (var p in parts) Assert.That(ex!.Message, Does.Contain(p));
        }
        Expect(() => F.Conv2d(Tensor.Zeros(4, 5, 5), Tensor.Zeros(3, 4, 3, 3)), "conv2d", "(4, 5, 5)");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3)), "conv2d", "(3, 4, 3)");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 3, 3, 3)), "conv2d", "(2, 4, 5, 5)", "(3, 3, 3, 3)", "Cin");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 2, 3, 3), groups: 2), "conv2d", "(3, 2, 3, 3)", "divisible");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 1, 3, 3), groups: 3), "conv2d", "(2, 4, 5, 5)", "groups = 3");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 7, 3)), "conv2d", "(3, 4, 7, 3)", "larger", "(5, 5)");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3, 3), dilation: 3), "conv2d", "larger", "(7, 7)");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3, 3), stride: 0), "conv2d", "stride");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3, 3), dilation: (1, -1)), "conv2d", "dilation");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3, 3), padding: -1), "conv2d", "padding");
        Expect(() => F.Conv2d(x, Tensor.Zeros(3, 4, 3, 3), Tensor.Zeros(4)), "conv2d", "(4,)", "(3,)");
        Expect(() => F.Conv1d(x, Tensor.Zeros(3, 4, 3)), "conv1d", "(2, 4, 5, 5)");
        Expect(() => F.ConvTranspose2d(x, Tensor.Zeros(3, 2, 3, 3)), "conv_transpose2d", "(2, 4, 5, 5)", "(3, 2, 3, 3)");
        Expect(() => F.ConvTranspose2d(x, Tensor.Zeros(4, 2, 3, 3), stride: 2, outputPadding: 2), "conv_transpose2d", "outputPadding");
        Expect(() => F.ConvTranspose2d(x, Tensor.Zeros(4, 2, 3, 3), groups: 3), "conv_transpose2d", "divisible");
        Expect(() => F.ConvTranspose2d(Tensor.Zeros(1, 4, 1, 1), Tensor.Zeros(4, 2, 1, 1), padding: 1), "conv_transpose2d", "not positive");
    }
}
