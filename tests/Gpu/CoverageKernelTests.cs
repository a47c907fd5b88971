// CoverageKernelTests.cs — the GPU kernels that replaced host fallbacks (kernels/Gpu/GatherScatter.cs,
// Scan.cs, TopK.cs, Random/Multinomial.cs, Optim/RmspropKernel.cs, Optim/EmaKernel.cs, IntOps.cs) against
// the CPU path, on ILGPU's CPU accelerator (and CUDA when present): odd shapes (1, primes), every axis
// (0, middle, last), non-contiguous operands, gradients through the device path, the device-side index
// range check's errors, bit-identical repeats of scatter_add, and zero host fallbacks throughout.
// The CPU ops these mirror have their own finite-difference gradient checks (tests/Engine); here the
// device gradients are checked against the CPU's.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.CoverageKernel
using GpuContext = Denoise.Kernels.Gpu.GpuContext;
using Denoise.NN;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

[TestFixture("ilgpu-cpu"), TestFixture("cuda"), NonParallelizable]   // DeviceFallbacks is process-wide
public class CoverageKernelTests(string kind)
{
    static GpuDevice? dev;
    static float tolScale = 1f;
    static GpuDevice Dev => dev!;

    [SetUp]
    public void PickDevice()
    {
        dev = GpuDevices.EngineDevice(kind);
        tolScale = kind == "cuda" ? 20f : 1f;   // ptxas may contract a·b + c into FMA in the optimizer kernels
    }

    static Tensor R(int seed, params int[] shape) => GradCheck.Rand(seed, shape);

    static void AssertClose(Tensor expected, Tensor actual, float tol, string what)
    {
        Assert.That(actual.Shape.ToArray(), Is.EqualTo(expected.Shape.ToArray()), what + ": shape");
        var e = expected.ToArray(); var a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
            Assert.That(a[i], Is.EqualTo(e[i]).Within(tolScale * tol * MathF.Max(1f, MathF.Abs(e[i]))), $"{what}[{i}] of {e.Length}");
    }

    static void NoFallbacks(string what) => Assert.That(DeviceFallbacks.Total, Is.Zero, what + ": " + DeviceFallbacks.Report());

    /// <summary>Forward and input gradients of Σ w·f(inputs) agree between CPU and device; the device run never falls back.</summary>
    static void GradParity(string what, Func<Tensor[], Tensor> f, float tol, params Tensor[] inputs)
    {
        (Tensor y, Tensor[] grads) Run(Device d)
        {
            var xs = inputs.Select(t => t.To(d).Detach().RequiresGrad_()).ToArray();
            var y = f(xs);
            var w = GradCheck.Rand(99, y.Shape.ToArray()).To(d);
            (y * w).Sum().Backward();
            return (y, xs.Select(x => x.Grad!).ToArray());
        }
        var (ye, ge) = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var (ya, ga) = Run(Dev);
        NoFallbacks(what);
        AssertClose(ye, ya, tol, what);
        for (int i = 0; i < ge.Length; i++)
        {
            Assert.That(ga[i].Device, Is.SameAs(Dev), $"{what}: grad {i} device");
            AssertClose(ge[i], ga[i], tol, $"{what}: grad of input {i}");
        }
    }

    /// <summary>An Int32 index of <paramref name="shape"/> with values in [0, size), repeats included.</summary>
    static Tensor Index(int seed, int size, params int[] shape)
    {
        var r = new Random(seed);
        var v = new int[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < v.Length; i++) v[i] = r.Next(size);
        return Tensor.FromArray(v, shape);
    }

    // ───────────────────────────── gather / scatter_add ─────────────────────────────

    [Test]
    public void Gather_AnyAxis_OddShapes_MatchesCpu_WithGradients()
    {
        // (x shape, axis, index shape): index smaller than x off the axis, longer than x along it, sizes 1 and primes.
        var cases = new (int[] x, int d, int[] i)[]
        {
            ([5, 3], 0, [7, 3]), ([1, 1], 0, [1, 1]), ([3, 7, 2], 1, [2, 5, 2]), ([2, 3, 5], 1, [2, 11, 3]),
            ([3, 7], 1, [2, 4]), ([2, 1, 5], 2, [2, 1, 13]), ([7], 0, [3]),
        };
        int seed = 200;
        foreach (var (xs, d, ishape) in cases)
        {
            var idx = Index(seed, xs[d], ishape);
            GradParity($"gather x{ShapeUtil.Str(xs)} dim {d} index {ShapeUtil.Str(ishape)}", t => t[0].Gather(d, idx.To(t[0].Device)), 1e-6f, R(seed++, xs));
        }
        // Non-contiguous x (a transpose) and index (a transposed view).
        var it = Index(300, 4, 3, 2).Transpose(0, 1);                           // (2, 3) view
        GradParity("gather of a transposed x with a transposed index", t => t[0].Transpose(0, 1).Gather(0, it.To(t[0].Device)), 1e-6f, R(301, 3, 4));
    }

    [Test]
    public void ScatterAdd_AnyAxis_MatchesCpuBitForBit_RepeatsAreIdentical_AndGradientsMatch()
    {
        var cases = new (int[] x, int d, int[] i)[]
        {
            ([5, 3], 0, [11, 3]), ([3, 7, 2], 1, [2, 13, 2]), ([2, 3, 5], 0, [7, 2, 5]), ([3, 7], 1, [2, 17]), ([1], 0, [5]),
        };
        int seed = 400;
        foreach (var (xs, d, ishape) in cases)
        {
            var idx = Index(seed, xs[d], ishape);
            var x = R(seed + 1, xs); var src = R(seed + 2, ishape);
            string what = $"scatter_add x{ShapeUtil.Str(xs)} dim {d} index {ShapeUtil.Str(ishape)}";
            var expected = x.ScatterAdd(d, idx, src).ToArray();
            DeviceFallbacks.Reset();
            var a = x.To(Dev).ScatterAdd(d, idx.To(Dev), src.To(Dev)).ToArray();
            var b = x.To(Dev).ScatterAdd(d, idx.To(Dev), src.To(Dev)).ToArray();
            NoFallbacks(what);
            Assert.That(b, Is.EqualTo(a), what + ": two device runs differ (scatter_add must be deterministic)");
            // The owner-computes kernel adds in the CPU's order: the same bits on the CPU accelerator.
            if (kind == "ilgpu-cpu") Assert.That(a, Is.EqualTo(expected), what + ": bits differ from the CPU");
            else AssertClose(Tensor.FromArray(expected, xs), Tensor.FromArray(a, xs), 1e-6f, what);
            GradParity(what + " (gradients)", t => t[0].ScatterAdd(d, idx.To(t[0].Device), t[1]), 1e-6f, x, src);
            seed += 10;
        }
        // src larger than the index (PyTorch allows it): only the index-covered part of src is used.
        var i2 = Index(450, 4, 3, 2);
        GradParity("scatter_add with src bigger than index", t => t[0].ScatterAdd(0, i2.To(t[0].Device), t[1]), 1e-6f, R(451, 4, 3), R(452, 5, 3));
    }

    [Test]
    public void IndexErrors_AreCheckedOnTheDevice_AndNameTheFirstBadValue()
    {
        var x = R(500, 3, 4).To(Dev);
        var bad = Tensor.FromArray([1, 7, 2, -1, 0, 9], 2, 3).To(Dev);
        DeviceFallbacks.Reset();
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => x.Gather(0, bad))!;
        Assert.That(e1.Message, Does.Contain("gather: index 7 is out of range for dimension 0 of size 3").And.Contain("index shape (2, 3)"));
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => x.ScatterAdd(1, bad, R(501, 2, 3).To(Dev)))!;
        Assert.That(e2.Message, Does.Contain("scatter_add: index 7 is out of range for dimension 1 of size 4"));
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => x.IndexSelect(1, Tensor.FromArray([0, -2], 2).To(Dev)))!;
        Assert.That(e3.Message, Does.Contain("index_select: index -2 is out of range for dimension 1 of size 4"));
        var e4 = Assert.Throws<ArgumentOutOfRangeException>(() => x.IndexAdd(0, Tensor.FromArray([3], 1).To(Dev), R(502, 1, 4).To(Dev)))!;
        Assert.That(e4.Message, Does.Contain("index_add: index 3 is out of range"));
        var e5 = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.OneHot(Tensor.FromArray([0, 2, 5], 3).To(Dev), 4))!;
        Assert.That(e5.Message, Does.Contain("label 5 at flat position 2 is out of range for 4 classes"));
        NoFallbacks("index checks");
        // The same messages as the CPU's.
        var cpu = Assert.Throws<ArgumentOutOfRangeException>(() => R(500, 3, 4).Gather(0, Tensor.FromArray([1, 7, 2, -1, 0, 9], 2, 3)))!;
        Assert.That(e1.Message, Is.EqualTo(cpu.Message));
    }

    [Test]
    public void OneHot_Argmax_Argmin_MatchCpu_WithoutFallbacks()
    {
        var labels = Tensor.FromArray([3, 0, 2, 2, 1, 0], 2, 3);
        DeviceFallbacks.Reset();
        var hot = Tensor.OneHot(labels.To(Dev), 5);
        var x = Tensor.FromArray([1f, 3f, 3f, -1f, 0f, 2f, 5f, 5f, -7f, 4f, 4f, 4f, 0f, 1f, 13f], 3, 5);
        var am = new[] { x.To(Dev).Argmax(1), x.To(Dev).Argmin(1), x.To(Dev).Argmax(0, keepDim: true), x.To(Dev).Argmin(0) };
        NoFallbacks("one_hot / argmax / argmin");
        Assert.That(hot.ToArray(), Is.EqualTo(Tensor.OneHot(labels, 5).ToArray()));
        Assert.That(Tensor.OneHot(labels.To(Dev)).Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 4 }));
        var want = new[] { x.Argmax(1), x.Argmin(1), x.Argmax(0, keepDim: true), x.Argmin(0) };
        for (int i = 0; i < 4; i++)
        {
            Assert.That(am[i].Shape.ToArray(), Is.EqualTo(want[i].Shape.ToArray()), $"arg-extreme {i} shape");
            Assert.That(am[i].ToIntArray(), Is.EqualTo(want[i].ToIntArray()), $"arg-extreme {i} (ties go to the first index)");
        }
    }

    // ───────────────────────────── scans ─────────────────────────────

    [Test]
    public void CumSum_CumProd_EveryAxis_MatchCpu_WithGradients()
    {
        foreach (var (shape, d) in new (int[], int)[] { ([7], 0), ([1, 1], 1), ([3, 5, 2], 0), ([3, 5, 2], 1), ([3, 5, 2], 2), ([2, 13], 1) })
        {
            GradParity($"cumsum {ShapeUtil.Str(shape)} dim {d}", t => t[0].CumSum(d), 1e-6f, R(600 + d, shape));
            // cumprod's gradient runs cumprod again and the reverse linear scan: all three scan kernels.
            GradParity($"cumprod {ShapeUtil.Str(shape)} dim {d}", t => t[0].CumProd(d), 1e-6f, GradCheck.Rand(610 + d, 0.5f, 1.5f, shape));
        }
        // A zero in the product: the division-free rule stays exact.
        GradParity("cumprod with a zero", t => t[0].CumProd(1), 1e-6f, Tensor.FromArray([0.5f, 0f, 2f, 1.5f, -1f, 3f], 2, 3));
        // Second order through cumsum (its backward is the reverse scan, itself recorded).
        var x = R(620, 2, 5);
        Tensor SecondOrder(Tensor xx)
        {
            var v = xx.Detach().RequiresGrad_();
            var g = Autograd.Grad([(v.CumSum(1) * v).Sum()], [v], createGraph: true)[0]!;
            (g * g).Sum().Backward();
            return v.Grad!;
        }
        var expected = SecondOrder(x);
        DeviceFallbacks.Reset();
        var actual = SecondOrder(x.To(Dev));
        NoFallbacks("cumsum second order");
        AssertClose(expected, actual, 1e-5f, "cumsum second order");
    }

    // ───────────────────────────── batched LU: inverse, slogdet, det ─────────────────────────────

    [Test]
    public void Inverse_SlogDet_Det_Batched_MatchCpu_WithGradients()
    {
        // Diagonally dominant (well conditioned), sizes 1, 3 and 5, a batch of 2×3 matrices, negative determinants.
        Tensor Wc(int seed, params int[] shape)
        {
            int n = shape[^1];
            var eye = Tensor.FromArray(Enumerable.Range(0, n * n).Select(i => i / n == i % n ? (seed % 2 == 0 ? 2.5f : -2.5f) : 0f).ToArray(), n, n);
            return R(seed, shape) + eye;
        }
        foreach (var shape in new[] { new[] { 1, 1 }, new[] { 3, 3 }, new[] { 5, 5 }, new[] { 2, 3, 4, 4 } })
        {
            string s = ShapeUtil.Str(shape);
            GradParity($"inverse {s}", t => t[0].Inverse(), 1e-5f, Wc(1000 + shape[^1], shape));
            GradParity($"slogdet {s}", t => t[0].SlogDet().LogAbsDet, 1e-5f, Wc(1011 + shape[^1], shape));
            GradParity($"det {s}", t => t[0].Det(), 1e-5f, Wc(1020 + shape[^1], shape));
            var x = Wc(1031, shape);
            var (sc, _) = x.SlogDet(); var (sg, _) = x.To(Dev).SlogDet();
            Assert.That(sg.ToArray(), Is.EqualTo(sc.ToArray()), $"slogdet sign {s}");
        }
        // Singular: slogdet gives (0, −∞); inverse names the first singular matrix, as on the CPU.
        var singular = Tensor.FromArray([2f, 0f, 0f, 1f, 1f, 2f, 2f, 4f], 2, 2, 2);
        DeviceFallbacks.Reset();
        var (sign, log) = singular.To(Dev).SlogDet();
        NoFallbacks("slogdet of a singular matrix");
        Assert.That(sign.ToArray(), Is.EqualTo(new[] { 1f, 0f }));
        Assert.That(log.ToArray()[1], Is.EqualTo(float.NegativeInfinity));
        var e = Assert.Throws<InvalidOperationException>(() => singular.To(Dev).Inverse())!;
        Assert.That(e.Message, Does.Contain("matrix 1 of tensor with shape (2, 2, 2) is singular"));
    }

    // ───────────────────────────── top-k, multinomial ─────────────────────────────

    [Test]
    public void TopK_MatchesCpu_TiesAndNaN_WithGradients()
    {
        var x = Tensor.FromArray([1f, 3f, 3f, float.NaN, -2f, 3f, 0f,
                                  5f, 5f, 5f, 5f, 5f, 5f, 5f,
                                  -1f, float.NaN, -3f, 2f, 2f, 9f, -0f], 3, 7);
        foreach (int k in new[] { 1, 3, 7 })
        {
            var (vc, ic) = x.TopK(k);
            DeviceFallbacks.Reset();
            var (vg, ig) = x.To(Dev).TopK(k);
            NoFallbacks($"topk {k}");
            Assert.That(ig.ToIntArray(), Is.EqualTo(ic.ToIntArray()), $"topk {k} indices");
            Assert.That(vg.ToArray(), Is.EqualTo(vc.ToArray()), $"topk {k} values");
        }
        // Bigger rows than the group (a strided scan per thread), odd sizes, 3-D input, and gradients.
        foreach (var (shape, k) in new (int[], int)[] { ([2, 37], 5), ([1, 1], 1), ([2, 3, 11], 4) })
            GradParity($"topk {ShapeUtil.Str(shape)} k {k}", t => t[0].TopK(k).values, 1e-6f, R(700 + k, shape));
        var logits = R(710, 3, 9);
        DeviceFallbacks.Reset();
        var filtered = logits.To(Dev).TopKFilter(4);
        NoFallbacks("topk filter");
        Assert.That(filtered.ToArray(), Is.EqualTo(logits.TopKFilter(4).ToArray()));
    }

    [Test]
    public void Multinomial_DrawsTheCpuSamples_ForTheSameGeneratorState()
    {
        var w = GradCheck.Rand(800, 0f, 1f, 5, 7) * Tensor.FromArray([1f, 0f, 1f, 1f, 0f, 1f, 1f], 7);   // some zero weights
        foreach (bool replacement in new[] { true, false })
            foreach (int n in new[] { 1, 3, 5 })
            {
                var gc = new Generator(17); gc.Offset = 3;
                var gg = new Generator(17); gg.Offset = 3;
                var cpu = w.Multinomial(n, replacement, gc);
                DeviceFallbacks.Reset();
                var gpu = w.To(Dev).Multinomial(n, replacement, gg);
                NoFallbacks("multinomial");
                Assert.That(gpu.Device, Is.SameAs(Dev));
                Assert.That(gpu.ToIntArray(), Is.EqualTo(cpu.ToIntArray()), $"samples (n={n}, replacement={replacement})");
                Assert.That(gg.Offset, Is.EqualTo(gc.Offset), "generator offset after the draw");
            }
        var one = Tensor.FromArray([0.2f, 0.5f, 0.3f], 3);
        Assert.That(one.To(Dev).Multinomial(2, false, new Generator(3)).ToIntArray(), Is.EqualTo(one.Multinomial(2, false, new Generator(3)).ToIntArray()));
        // Bad rows: the first failing row is named, as on the CPU.
        var neg = Tensor.FromArray([1f, 1f, 1f, -0.5f, 2f, 1f], 2, 3).To(Dev);
        Assert.That(Assert.Throws<ArgumentException>(() => neg.Multinomial(1, true, new Generator(1)))!.Message, Does.Contain("row 1 has -0.5"));
        var sparse = Tensor.FromArray([1f, 0f, 0f], 1, 3).To(Dev);
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Multinomial(2, false, new Generator(1)))!.Message, Does.Contain("row 0 has no positive weight left"));
    }

    [Test]
    public void Bernoulli_And_Dropout_AreTheCpuStream_WithoutFallbacks()
    {
        var p = GradCheck.Rand(850, 0f, 1f, 3, 7);
        DeviceFallbacks.Reset();
        var bg = p.To(Dev).Bernoulli(new Generator(4));
        NoFallbacks("bernoulli");
        Assert.That(bg.ToArray(), Is.EqualTo(p.Bernoulli(new Generator(4)).ToArray()));
        GradParity("dropout", t => F.Dropout(t[0], 0.3f, true, new Generator(5)), 1e-6f, R(851, 5, 3));
    }

    // ───────────────────────────── optimizers, EMA, clipping, BatchNorm counter ─────────────────────────────

    [Test]
    public void RMSprop_EveryVariant_MatchesCpu_WithoutFallbacks()
    {
        foreach (var (momentum, centered, wd) in new (float, bool, float)[] { (0f, false, 0f), (0.9f, false, 0.01f), (0f, true, 0f), (0.5f, true, 0.1f) })
        {
            string what = $"rmsprop momentum {momentum} centered {centered} wd {wd}";
            var w0 = R(900, 3, 7); var b0 = R(901, 5);
            (Tensor, Tensor) Train(Device d)
            {
                // Clone: on the CPU To() returns the same tensor, and the steps below update it in place.
                var w = w0.Clone().To(d).Detach().RequiresGrad_(); var b = b0.Clone().To(d).Detach().RequiresGrad_();
                var opt = new RMSprop([w, b], lr: 0.01f, momentum: momentum, centered: centered, weightDecay: wd);
                for (int s = 0; s < 3; s++)
                {
                    opt.ZeroGrad();
                    ((w * w).Sum() + (b.Exp()).Sum() * (s + 1)).Backward();
                    opt.Step();
                }
                return (w, b);
            }
            var (wc, bc) = Train(Device.Cpu);
            DeviceFallbacks.Reset();
            var (wg, bg) = Train(Dev);
            NoFallbacks(what);
            AssertClose(wc, wg, 1e-6f, what + " w");
            AssertClose(bc, bg, 1e-6f, what + " b");
        }
    }

    [Test]
    public void Ema_UpdateApplyCopyAndStateDict_MatchCpu_WithoutFallbacks()
    {
        (Tensor shadow, Tensor applied, Tensor after, Dictionary<string, Tensor> sd) Run(Device d)
        {
            var w = R(950, 4, 5).To(d).RequiresGrad_();
            var ema = new Ema([w], decay: 0.9f);
            Tensor applied;
            for (int s = 0; s < 3; s++)
            {
                using (Autograd.NoGrad()) w.AddInPlace(R(951 + s, 4, 5).To(d), 0.5f);
                ema.Update();
            }
            using (ema.Apply()) applied = w.Detach().Clone();
            var after = w.Detach().Clone();
            var target = Tensor.Zeros(4, 5).To(d);
            ema.CopyTo([target]);
            Assert.That(target.ToArray(), Is.EqualTo(ema.Shadow[0].ToArray()), "CopyTo");
            return (ema.Shadow[0], applied, after, ema.StateDict());
        }
        var c = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var g = Run(Dev);
        NoFallbacks("ema");
        Assert.That(g.shadow.Device, Is.SameAs(Dev), "the shadow lives on the parameter's device");
        AssertClose(c.shadow, g.shadow, 1e-6f, "shadow");
        AssertClose(c.applied, g.applied, 1e-6f, "applied weights");
        AssertClose(c.after, g.after, 0f, "restored weights");
        Assert.That(g.sd["shadow.0"].Device, Is.SameAs(Device.Cpu), "state dict on the host");
        // Loading a (host) state dict into a device EMA.
        var w2 = Tensor.Zeros(4, 5).To(Dev);
        var ema2 = new Ema([w2]);
        ema2.LoadStateDict(c.sd);
        AssertClose(c.shadow, ema2.Shadow[0], 0f, "loaded shadow");
        Assert.That(ema2.NumUpdates, Is.EqualTo(3));
    }

    [Test]
    public void GradClip_And_BatchNormCounter_RunOnTheDevice()
    {
        var w0 = R(970, 3, 4); var b0 = R(971, 5);
        (Tensor, Tensor, double) Run(Device d)
        {
            var w = w0.Clone().To(d).Detach().RequiresGrad_(); var b = b0.Clone().To(d).Detach().RequiresGrad_();
            ((w * w).Sum() * 3f + b.Exp().Sum()).Backward();
            double n = GradClip.ClipGradNorm([w, b], 1f);
            GradClip.ClipGradValue([w, b], 0.1f);
            return (w.Grad!, b.Grad!, n);
        }
        var (wc, bc, nc) = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var (wg, bg, ng) = Run(Dev);
        NoFallbacks("grad clip");
        Assert.That(ng, Is.EqualTo(nc).Within(1e-5 * nc), "norm (float on the device, double on the CPU)");
        AssertClose(wc, wg, 1e-5f, "clipped w grad"); AssertClose(bc, bg, 1e-5f, "clipped b grad");

        var bn = new BatchNorm1d(3); bn.To(Dev);
        DeviceFallbacks.Reset();
        for (int s = 0; s < 3; s++) bn.Forward(R(980 + s, 4, 3).To(Dev));
        NoFallbacks("batch norm");
        Assert.That(bn.NumBatchesTracked.ToIntArray(), Is.EqualTo(new[] { 3 }));
    }
}
