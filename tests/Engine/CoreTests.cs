using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class CoreTests
{
    [Test]
    public void Views_ShareStorage_AndReadCorrectElements()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);
        var p = x.Permute(2, 0, 1);
        Assert.That(p.Shape.ToArray(), Is.EqualTo(new[] { 4, 2, 3 }));
        Assert.That(p[3, 1, 2], Is.EqualTo(x[1, 2, 3]));
        Assert.That(ReferenceEquals(p.Storage, x.Storage), Is.True);
        var n = x.Narrow(2, 1, 2);
        Assert.That(n.ToArray().Take(4), Is.EqualTo(new float[] { 1, 2, 5, 6 }));
        var s = x.Slice(2, 0, 4, 2);
        Assert.That(s.ToArray(), Is.EqualTo(new float[] { 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22 }));
        var e = Tensor.FromArray(new float[] { 1, 2, 3 }, 3, 1).Expand(3, 4);
        Assert.That(e.Strides.ToArray(), Is.EqualTo(new[] { 1, 0 }));
        Assert.That(e.ToArray(), Is.EqualTo(new float[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }));
        Assert.That(x.Reshape(6, -1).Shape.ToArray(), Is.EqualTo(new[] { 6, 4 }));
        Assert.That(x.Unsqueeze(1).Squeeze().Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 4 }));
    }

    [Test]
    public void Broadcasting_FollowsNumpyRules()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3 }, 3, 1);
        var b = Tensor.FromArray(new float[] { 10, 20 }, 2);
        Assert.That((a + b).ToArray(), Is.EqualTo(new float[] { 11, 21, 12, 22, 13, 23 }));
        var ex = Assert.Throws<ArgumentException>(() => _ = Tensor.Zeros(2, 3) + Tensor.Zeros(4));
        Assert.That(ex!.Message, Does.Contain("(2, 3)").And.Contain("(4,)"));
        // A transposed operand goes through the strided path.
        var m = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.That((m.T * 2f).ToArray(), Is.EqualTo(new float[] { 2, 8, 4, 10, 6, 12 }));
    }

    [Test]
    public void Sum_OverAnyAxes_MatchesLoops()
    {
        var x = GradCheck.Rand(1, 3, 4, 5);
        var v = x.ToArray();
        var s = x.Sum([0, 2]).ToArray();
        for (int j = 0; j < 4; j++)
        {
            double e = 0;
            for (int i = 0; i < 3; i++) for (int k = 0; k < 5; k++) e += v[i * 20 + j * 5 + k];
            Assert.That(s[j], Is.EqualTo(e).Within(1e-5));
        }
        Assert.That(x.Sum(1, keepDim: true).Shape.ToArray(), Is.EqualTo(new[] { 3, 1, 5 }));
        Assert.That(x.Mean().Item(), Is.EqualTo(v.Average()).Within(1e-6));
    }

    [Test]
    public void Backward_AccumulatesIntoGrad_AndFreesGraph()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3 }).RequiresGrad_();
        var y = (x * x).Sum();
        y.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 2, 4, 6 }));
        (x * 3f).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 5, 7, 9 }));
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.That(ex!.Message, Does.Contain("freed"));
    }

    [Test]
    public void Backward_ThroughTensorWithoutGrad_GivesClearError()
    {
        var x = Tensor.FromArray(new float[] { 1, 2 });
        var ex = Assert.Throws<InvalidOperationException>(() => (x * 2f).Sum().Backward());
        Assert.That(ex!.Message, Does.Contain("does not require grad"));
    }

    [Test]
    public void NoGrad_RecordsNothing_AndDetachCutsTheGraph()
    {
        var x = Tensor.FromArray(new float[] { 1, 2 }).RequiresGrad_();
        using (Autograd.NoGrad()) Assert.That((x * 2f).RequiresGrad, Is.False);
        Assert.That((x.Detach() * 2f).RequiresGrad, Is.False);
        Assert.That((x * 2f).RequiresGrad, Is.True);
    }

    [Test]
    public void Hook_SeesAndCanReplaceGradient()
    {
        var x = Tensor.FromArray(new float[] { 1, 2 }).RequiresGrad_();
        var y = x * 2f;
        float[]? seen = null;
        y.RegisterHook(g => { seen = g.ToArray(); return g * 10f; });
        y.Sum().Backward();
        Assert.That(seen, Is.EqualTo(new float[] { 1, 1 }));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 20, 20 }));
    }

    [Test]
    public void SecondOrder_OfCube_IsSixX()
    {
        var x = Tensor.FromArray(new float[] { 2f }).RequiresGrad_();
        var y = x * x * x;
        var g = Autograd.Grad([y.Sum()], [x], createGraph: true)[0]!;
        Assert.That(g.Item(), Is.EqualTo(12f));
        var gg = Autograd.Grad([g.Sum()], [x])[0]!;
        Assert.That(gg.Item(), Is.EqualTo(12f)); // d²(x³) = 6x = 12
    }

    [Test]
    public void Scope_ReturnsStorageToPool_AndUseAfterReleaseThrows()
    {
        Tensor leaked;
        Tensor kept;
        using (var scope = TensorScope.Begin())
        {
            leaked = Tensor.Ones(1000) * 2f;
            kept = scope.Keep(Tensor.Ones(1000) * 3f);
            Assert.That(TensorScope.CurrentOwnedCount, Is.GreaterThan(0));
        }
        Assert.That(kept.ToArray()[0], Is.EqualTo(3f));
        var ex = Assert.Throws<ObjectDisposedException>(() => leaked.ToArray());
        Assert.That(ex!.Message, Does.Contain("TensorScope"));
    }

    [Test]
    public void Scope_TrainingLoop_ReusesPooledMemory()
    {
        var w = GradCheck.Rand(3, 64, 64).RequiresGrad_();
        void Step()
        {
            using var _ = TensorScope.Begin();
            var loss = ((w * 2f).Tanh() + 1f).Square().Mean();
            loss.Backward();
        }
        for (int i = 0; i < 3; i++) Step();
        long before = CpuPool.Floats.AllocatedBytes;
        for (int i = 0; i < 200; i++) Step();
        Assert.That(CpuPool.Floats.AllocatedBytes, Is.EqualTo(before), "steady-state steps must not allocate fresh tensor memory");
    }

    static readonly (string name, Func<Tensor, Tensor> f, float lo, float hi)[] Unaries =
    [
        ("neg", x => -x, -1, 1), ("abs", x => x.Abs(), 0.1f, 1), ("exp", x => x.Exp(), -1, 1), ("log", x => x.Log(), 0.5f, 2),
        ("sqrt", x => x.Sqrt(), 0.5f, 2), ("rsqrt", x => x.Rsqrt(), 0.5f, 2), ("sin", x => x.Sin(), -2, 2), ("cos", x => x.Cos(), -2, 2),
        ("tanh", x => x.Tanh(), -2, 2), ("sigmoid", x => x.Sigmoid(), -3, 3), ("relu", x => x.Relu(), 0.05f, 1), ("silu", x => x.SiLU(), -3, 3),
        ("softplus", x => x.Softplus(), -3, 3), ("gelu", x => x.Gelu(), -3, 3), ("gelu_tanh", x => x.Gelu(true), -3, 3),
        ("leaky_relu", x => x.LeakyRelu(0.2f), 0.05f, 1), ("elu", x => x.Elu(0.7f), -2, -0.05f), ("erf", x => x.Erf(), -2, 2),
        ("clamp", x => x.Clamp(-0.5f, 0.5f), -0.45f, 0.45f), ("pow", x => x.Pow(3f), -1.5f, 1.5f), ("pow_frac", x => x.Pow(1.5f), 0.5f, 2),
    ];

    static IEnumerable<string> UnaryNames => Unaries.Select(u => u.name);

    [TestCaseSource(nameof(UnaryNames))]
    public void Unary_ForwardMatchesScalarMath_AndGradientsMatchFiniteDifferences(string name)
    {
        var (_, f, lo, hi) = Unaries.Single(u => u.name == name);
        var x = GradCheck.Rand(name.Length, lo, hi, 37); // 37: exercises the SIMD body and the scalar tail
        GradCheck.Check(xs => f(xs[0]), [x], what: name);
        GradCheck.CheckSecondOrder(xs => f(xs[0]), [GradCheck.Rand(name.Length + 1, lo, hi, 5)], what: name);
    }

    [Test]
    public void Unary_SimdForms_MatchDoublePrecisionMath()
    {
        var xs = Enumerable.Range(0, 200).Select(i => -6f + 12f * i / 199f).ToArray();
        var x = Tensor.FromArray(xs);
        void Expect(Tensor y, Func<double, double> f, double tol, string what)
        {
            var v = y.ToArray();
            for (int i = 0; i < xs.Length; i++)
                Assert.That(v[i], Is.EqualTo(f(xs[i])).Within(tol + tol * Math.Abs(f(xs[i]))), $"{what}({xs[i]})");
        }
        Expect(x.Tanh(), Math.Tanh, 2e-7, "tanh");
        Expect(x.Sigmoid(), v => 1 / (1 + Math.Exp(-v)), 2e-7, "sigmoid");
        Expect(x.SiLU(), v => v / (1 + Math.Exp(-v)), 5e-7, "silu");
        Expect(x.Softplus(), v => Math.Log(1 + Math.Exp(v)), 5e-7, "softplus");
        Expect(x.Erf(), v => Erf(v), 3e-7, "erf");  // A&S 7.1.26 bound is 1.5e-7, plus float rounding
        Expect(x.Gelu(), v => 0.5 * v * (1 + Erf(v / Math.Sqrt(2))), 1e-6, "gelu");
        Expect(x.Exp(), Math.Exp, 3e-7, "exp");
    }

    // erf in double by its Taylor / continued-fraction-free series (|x| ≤ 6 converges with 60 terms in double).
    static double Erf(double x)
    {
        if (Math.Abs(x) > 5) return Math.Sign(x);
        double sum = 0, term = x; int n = 0;
        while (Math.Abs(term) > 1e-17 * Math.Abs(sum) || n < 3)
        {
            sum += term / (2 * n + 1);
            n++;
            term *= -x * x / n;
            if (n > 400) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    static readonly (string name, Func<Tensor, Tensor, Tensor> f, float lo, float hi)[] Binaries =
    [
        ("add", (a, b) => a + b, -1, 1), ("sub", (a, b) => a - b, -1, 1), ("mul", (a, b) => a * b, -1, 1),
        ("div", (a, b) => a / b, 0.5f, 2), ("pow", (a, b) => a.Pow(b), 0.5f, 2),
        ("maximum", (a, b) => a.Maximum(b), -1, 1), ("minimum", (a, b) => a.Minimum(b), -1, 1),
        ("where", (a, b) => Tensor.Where(a.Detach().Gt(0f), a, b), -1, 1),
    ];

    static IEnumerable<string> BinaryNames => Binaries.Select(u => u.name);

    [TestCaseSource(nameof(BinaryNames))]
    public void Binary_WithBroadcasting_GradientsMatchFiniteDifferences(string name)
    {
        var (_, f, lo, hi) = Binaries.Single(u => u.name == name);
        // (3,1,5) with (4,5): both operands broadcast; maximum/minimum inputs never tie (different seeds).
        GradCheck.Check(xs => f(xs[0], xs[1]), [Kinkless(GradCheck.Rand(1, lo, hi, 3, 1, 5), 0), Kinkless(GradCheck.Rand(2, lo, hi, 4, 5), 1)], what: name);
        GradCheck.CheckSecondOrder(xs => f(xs[0], xs[1]), [Kinkless(GradCheck.Rand(3, lo, hi, 2, 3), 0), Kinkless(GradCheck.Rand(4, lo, hi, 3), 1)], what: name);
    }

    /// <summary>Rounds values to k·0.2 + parity·0.1 so that values of the two operands differ by
    /// ≥ 0.1 (5 finite-difference steps): maximum/minimum/where are then smooth at every probe.</summary>
    static Tensor Kinkless(Tensor t, int parity) =>
        Tensor.FromArray(t.ToArray().Select(v => MathF.Round(v / 0.2f) * 0.2f + 0.1f * parity + 0.05f).ToArray(), t.Shape.ToArray());

    [Test]
    public void Views_GradientsMatchFiniteDifferences()
    {
        GradCheck.Check(xs => xs[0].Permute(2, 0, 1).Reshape(4, 6) * xs[0].Sum(), [GradCheck.Rand(5, 2, 3, 4)], what: "permute/reshape");
        GradCheck.Check(xs => xs[0].Narrow(1, 1, 2).Exp(), [GradCheck.Rand(6, 2, 4)], what: "narrow");
        GradCheck.Check(xs => xs[0].Slice(1, 0, 5, 2).Exp(), [GradCheck.Rand(6, 2, 5)], what: "slice step");
        GradCheck.Check(xs => xs[0].Expand(3, 4).Sin(), [GradCheck.Rand(7, 3, 1)], what: "expand");
        GradCheck.Check(xs => Tensor.Cat([xs[0], xs[1].Exp()], 1), [GradCheck.Rand(8, 2, 3), GradCheck.Rand(9, 2, 2)], what: "cat");
        GradCheck.Check(xs => Tensor.Stack([xs[0], xs[1]], 0), [GradCheck.Rand(8, 2, 3), GradCheck.Rand(9, 2, 3)], what: "stack");
        GradCheck.Check(xs => xs[0].PadDims([1, 0], [0, 2], 0.5f).Exp(), [GradCheck.Rand(10, 2, 3)], what: "pad");
        GradCheck.Check(xs => xs[0].Chunk(2, 1)[1] * 3f, [GradCheck.Rand(11, 2, 5)], what: "chunk");
        GradCheck.Check(xs => xs[0].Sum([0, 2], keepDim: true), [GradCheck.Rand(12, 2, 3, 4)], what: "sum");
        GradCheck.Check(xs => xs[0].Mean(1), [GradCheck.Rand(13, 2, 3, 4)], what: "mean");
        GradCheck.CheckSecondOrder(xs => (xs[0].Sum(1, keepDim: true) * xs[0]).Exp(), [GradCheck.Rand(14, 2, 3)], what: "sum");
    }
}

/// <summary>Cat's copy (StridedCopy): coalesced blocks, and large copies split over the pool.</summary>
[NonParallelizable]
public class CatCopyTests
{
    /// <summary>Cat along channels of NCHW (blocks of C_i·H·W), along the last dim (rows) and of a
    /// transposed view (a strided source), small and above the pool threshold, on 1 and 2 threads:
    /// every element where the index arithmetic puts it.</summary>
    [TestCase(3, 5, 7, 2, 1), TestCase(64, 96, 28, 28, 1), TestCase(33, 7, 5, 3, 3), TestCase(257, 129, 3, 5, 3)]
    public void Cat_PlacesEveryElement_OnOneAndTwoThreads(int N, int C, int H, int W, int dim)
    {
        using var scope = TensorScope.Begin();
        var a = GradCheck.Rand(1, N, C, H, W);
        var b = GradCheck.Rand(2, N, 3, H, W);
        var t = GradCheck.Rand(3, N, C, W, H).Transpose(2, 3);     // (N, C, H, W), strided
        int saved = Denoise.Kernels.Cpu.WorkerPool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Denoise.Kernels.Cpu.WorkerPool.Threads = threads;
                var parts = dim == 1 ? new[] { a, b, t } : new[] { a, t };
                var y = Tensor.Cat(parts, dim).ToArray();
                int at = 0, Cy = dim == 1 ? 2 * C + 3 : C, Wy = dim == 3 ? 2 * W : W;
                foreach (var p in parts)
                {
                    var pv = p.Contiguous().ToArray();
                    int Cp = p.Shape[1], Wp = p.Shape[3];
                    for (int n = 0; n < N; n++)
                        for (int c = 0; c < Cp; c++)
                            for (int h = 0; h < H; h++)
                                for (int w = 0; w < Wp; w++)
                                {
                                    int yc = dim == 1 ? at + c : c, yw = dim == 3 ? at + w : w;
                                    float want = pv[((n * Cp + c) * H + h) * Wp + w];
                                    float got = y[((n * Cy + yc) * H + h) * Wy + yw];
                                    if (got != want) Assert.Fail($"{threads} threads: y[{n},{yc},{h},{yw}] = {got}, expected {want}");
                                }
                    at += dim == 1 ? Cp : Wp;
                }
            }
        }
        finally { Denoise.Kernels.Cpu.WorkerPool.Threads = saved; }
    }
}

public class AnomalyTests
{
    [Test]
    public void DetectAnomalies_NamesTheOpThatMadeNaN_AndRefusesANonFiniteLoss()
    {
        Autograd.DetectAnomalies = true;
        try
        {
            var x = Tensor.FromArray(new float[] { -1f, 4f }).RequiresGrad_();
            var ex = Assert.Throws<ArithmeticException>(() => x.Log());
            Assert.That(ex!.Message, Does.Contain("'log'").And.Contain("(2,)"));
            // An infinite constant is propagated, not produced, so the forward check stays quiet;
            // the non-finite loss is then refused at Backward.
            var y = Tensor.FromArray(new float[] { 1f, 2f }).RequiresGrad_();
            var loss = (y * float.PositiveInfinity).Sum();
            ex = Assert.Throws<ArithmeticException>(() => loss.Backward());
            Assert.That(ex!.Message, Does.Contain("loss").And.Contain("'sum'").And.Contain("Infinity"));
        }
        finally { Autograd.DetectAnomalies = false; }
    }

    [Test]
    public void DetectAnomalies_Off_LetsNaNThrough()
    {
        var x = Tensor.FromArray(new float[] { -1f }).RequiresGrad_();
        Assert.That(float.IsNaN(x.Log().Item()), Is.True);
    }
}

public class JvpTests
{
    [Test]
    public void Jvp_MatchesFiniteDifferenceDirectionalDerivative()
    {
        var x = GradCheck.Rand(1, 3, 4);
        var v = GradCheck.Rand(2, 3, 4);
        var w = GradCheck.Rand(3, 4, 5);
        Tensor Fn(Tensor t) => t.MatMul(w).Tanh().Softmax(-1);
        var (y, jv) = Autograd.Jvp(Fn, x, v);
        // Directional derivative (f(x + hv) − f(x − hv)) / 2h with h = 1e-2; error O(h²) ≈ 1e-4.
        Tensor yp, ym;
        using (Autograd.NoGrad()) { yp = Fn(x + v * 1e-2f); ym = Fn(x - v * 1e-2f); }
        var fd = ((yp - ym) / 2e-2f).ToArray();
        Assert.That(jv.ToArray(), Is.EqualTo(fd).Within(2e-4f));
        Assert.That(y.ToArray(), Is.EqualTo(Fn(x).ToArray()));
    }
}

public class PoolTests
{
    [Test]
    public void Pool_WhenFull_EvictsLeastRecentlyUsedSizes_SoNewSizesAreStillPooled()
    {
        var pool = new CpuPool<float> { MaxPooledBytes = 4 * 1024 * 4 }; // room for 4 arrays of 1,024 floats
        var old = Enumerable.Range(0, 4).Select(_ => pool.Rent(1024)).ToList();
        foreach (var a in old) pool.Return(a);                          // pool full of size 1,024
        var fresh = Enumerable.Range(0, 4).Select(_ => pool.Rent(2048)).ToList();
        foreach (var a in fresh) pool.Return(a);                        // must evict the stale 1,024s
        long before = pool.AllocatedBytes;
        var again = pool.Rent(2048);
        Assert.That(pool.AllocatedBytes, Is.EqualTo(before), "the recently used size is served from the pool");
        Assert.That(pool.EvictedBytes, Is.GreaterThan(0));
        Assert.That(pool.PooledBytes, Is.LessThanOrEqualTo(pool.MaxPooledBytes));
        pool.Return(again);
    }
}
