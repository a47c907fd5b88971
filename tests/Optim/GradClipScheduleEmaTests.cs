// GradClipScheduleEmaTests.cs — gradient clipping vs direct formulas, LR schedules at chosen steps vs
// their closed forms, the EMA vs a hand-run recurrence (with Apply/restore and checkpoints), and the
// fused kernels' vector lanes vs their scalar tail.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise;
using Denoise.Kernels.Cpu;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Optim;

public class GradClipTests
{
    static Tensor WithGrad(float[] p, float[] g)
    {
        var t = Tensor.FromArray(p, p.Length).RequiresGrad_();
        t.Grad = Tensor.FromArray(g, g.Length);
        return t;
    }

    [Test]
    public void ClipGradNorm_ScalesAllGradsByMaxNormOverTotalNorm()
    {
        var a = WithGrad([0, 0, 0], [3, -4, 12]);
        var b = WithGrad([0, 0], [84, 0]);
        var none = Tensor.Zeros(2).RequiresGrad_();   // no grad: ignored
        double norm = GradClip.ClipGradNorm([a, b, none], 13f);
        Assert.That(norm, Is.EqualTo(85.0).Within(1e-12), "√(9+16+144+7056) = 85");
        double c = 13 / (85 + 1e-6);
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 3 * c, -4 * c, 12 * c }).Within(1e-5));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 84 * c, 0 }).Within(1e-5));

        // Below the threshold nothing changes, bit for bit.
        var before = a.Grad.ToArray();
        double again = GradClip.ClipGradNorm([a, b], 100f);
        Assert.That(again, Is.EqualTo(13.0).Within(1e-4));
        Assert.That(a.Grad.ToArray(), Is.EqualTo(before));
    }

    [Test]
    public void ClipGradNorm_AccumulatesInDouble_OnOddLengths()
    {
        foreach (int n in new[] { 1, 7, 13, 31, 65, 257, 100_003 })
        {
            var g = GradCheck.Rand(n, n).ToArray();
            double expected = Math.Sqrt(g.Sum(v => (double)v * v));
            // Each square is exact in double; only ~n double roundings remain (≪ 1e-12 relative).
            Assert.That(Math.Sqrt(GradNormKernel.SumOfSquares(g)), Is.EqualTo(expected).Within(1e-12 * expected), $"n={n}");
        }
    }

    [Test]
    public void ClipGradValue_ClampsElementwise()
    {
        var vals = Enumerable.Range(0, 21).Select(i => (i - 10) * 0.3f).ToArray();
        var p = WithGrad(new float[21], vals);
        GradClip.ClipGradValue([p], 1.5f);
        Assert.That(p.Grad!.ToArray(), Is.EqualTo(vals.Select(v => Math.Clamp(v, -1.5f, 1.5f)).ToArray()));
        Assert.Throws<ArgumentException>(() => GradClip.ClipGradValue([p], -1f));
    }
}

public class ScheduleTests
{
    [Test]
    public void Schedules_MatchTheirFormulas()
    {
        Assert.That(LrSchedule.Constant(0.3f).At(12345), Is.EqualTo(0.3f));

        var step = LrSchedule.StepLr(0.1f, 10, 0.5f);
        Assert.That(step.At(0), Is.EqualTo(0.1f).Within(1e-9));
        Assert.That(step.At(9), Is.EqualTo(0.1f).Within(1e-9));
        Assert.That(step.At(10), Is.EqualTo(0.05f).Within(1e-9));
        Assert.That(step.At(35), Is.EqualTo(0.1 * 0.125).Within(1e-9));

        var exp = LrSchedule.ExponentialLr(0.2f, 0.9f);
        Assert.That(exp.At(7), Is.EqualTo(0.2f * Math.Pow(0.9f, 7)).Within(1e-8));

        var cos = LrSchedule.CosineAnnealing(1f, 100, minLr: 0.1f);
        Assert.That(cos.At(0), Is.EqualTo(1f));
        Assert.That(cos.At(50), Is.EqualTo(0.55f).Within(1e-7), "halfway: (η + ηmin)/2");
        Assert.That(cos.At(25), Is.EqualTo(0.1 + 0.9 * (1 + Math.Cos(Math.PI / 4)) / 2).Within(1e-7));
        Assert.That(cos.At(100), Is.EqualTo(0.1f).Within(1e-7));
        Assert.That(cos.At(500), Is.EqualTo(0.1f).Within(1e-7), "stays at ηmin");

        // Warm-up of 10 steps then cosine over the remaining 90.
        var wc = LrSchedule.CosineAnnealing(1f, 100, minLr: 0f, warmupSteps: 10);
        Assert.That(wc.At(0), Is.EqualTo(0.1f).Within(1e-7));
        Assert.That(wc.At(4), Is.EqualTo(0.5f).Within(1e-7));
        Assert.That(wc.At(10), Is.EqualTo(1f).Within(1e-7));
        Assert.That(wc.At(55), Is.EqualTo(0.5f).Within(1e-6));
        Assert.That(wc.At(100), Is.EqualTo(0f).Within(1e-7));

        var warm = LrSchedule.LinearWarmup(4, LrSchedule.StepLr(0.8f, 2, 0.5f));
        Assert.That(Enumerable.Range(0, 8).Select(warm.At).ToArray(),
            Is.EqualTo(new[] { 0.2f, 0.4f, 0.6f, 0.8f, 0.8f, 0.8f, 0.4f, 0.4f }).Within(1e-7));
    }

    [Test]
    public void Apply_SetsTheOptimizerRate_AndBadArgumentsThrow()
    {
        var opt = new SGD([Tensor.Zeros(3).RequiresGrad_()], 1f);
        var s = LrSchedule.ExponentialLr(0.5f, 0.5f);
        Assert.That(s.Apply(opt, 2), Is.EqualTo(0.125f));
        Assert.That(opt.LearningRate, Is.EqualTo(0.125f));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.At(-1));
        Assert.Throws<ArgumentException>(() => LrSchedule.CosineAnnealing(1f, 10, warmupSteps: 10));
        Assert.Throws<ArgumentException>(() => LrSchedule.StepLr(1f, 0, 0.5f));
    }
}

public class EmaTests
{
    [TestCase(true, TestName = "Ema_WithWarmup_MatchesDiffusersRecurrence")]
    [TestCase(false, TestName = "Ema_ConstantDecay_MatchesRecurrence")]
    public void Ema_MatchesManualRecurrence(bool warmup)
    {
        const int n = 23;
        var p = GradCheck.Rand(5, n).RequiresGrad_();
        var q = GradCheck.Rand(6, 2, 3).RequiresGrad_();
        var ema = new Ema([p, q], decay: 0.9f, warmup: warmup);
        double[] sp = p.ToArray().Select(v => (double)v).ToArray(), sq = q.ToArray().Select(v => (double)v).ToArray();
        for (int t = 0; t < 8; t++)
        {
            // Move the parameters as an optimizer would (in place, no grad).
            using (Autograd.NoGrad()) { p.AddInPlace(GradCheck.Rand(100 + t, n), 0.3f); q.AddInPlace(GradCheck.Rand(200 + t, 2, 3), 0.3f); }
            double d = !warmup ? 0.9f : t == 0 ? 0 : Math.Min(0.9f, (1.0 + t) / (10.0 + t));
            Assert.That(ema.CurrentDecay, Is.EqualTo(d).Within(1e-7), $"decay at t={t}");
            ema.Update();
            var pv = p.ToArray(); var qv = q.ToArray();
            for (int j = 0; j < n; j++) sp[j] = d * sp[j] + (1 - d) * pv[j];
            for (int j = 0; j < 6; j++) sq[j] = d * sq[j] + (1 - d) * qv[j];
        }
        // Values are O(1); 8 float updates of a convex combination stay within a few ulp (≈1e-7) each.
        Assert.That(ema.Shadow[0].ToArray(), Is.EqualTo(sp).Within(1e-6));
        Assert.That(ema.Shadow[1].ToArray(), Is.EqualTo(sq).Within(1e-6));
        Assert.That(ema.NumUpdates, Is.EqualTo(8));
    }

    [Test]
    public void Ema_ApplyLoadsAveragesAndRestores_CopyToLoadsThem()
    {
        var p = GradCheck.Rand(7, 19).RequiresGrad_();
        var ema = new Ema([p], decay: 0.5f, warmup: false);
        using (Autograd.NoGrad()) p.AddInPlace(Tensor.Ones(19));
        ema.Update();
        var live = p.ToArray();
        var avg = ema.Shadow[0].ToArray();
        Assert.That(avg, Is.Not.EqualTo(live));
        using (ema.Apply())
        {
            Assert.That(p.ToArray(), Is.EqualTo(avg));
            Assert.Throws<InvalidOperationException>(() => ema.Apply(), "no nesting");
            Assert.Throws<InvalidOperationException>(() => ema.Update(), "no update while applied");
        }
        Assert.That(p.ToArray(), Is.EqualTo(live), "restored bit for bit");

        var other = Tensor.Zeros(19);
        ema.CopyTo([other]);
        Assert.That(other.ToArray(), Is.EqualTo(avg));
        var ex = Assert.Throws<ArgumentException>(() => ema.CopyTo([Tensor.Zeros(18)]))!;
        Assert.That(ex.Message, Does.Contain("(18,)").And.Contain("(19,)"));
    }

    [Test]
    public void Ema_StateDict_RoundTripIsBitExact()
    {
        var p = GradCheck.Rand(8, 33).RequiresGrad_();
        var ema = new Ema([p], decay: 0.99f);
        for (int t = 0; t < 3; t++) { using (Autograd.NoGrad()) p.AddInPlace(GradCheck.Rand(50 + t, 33), 0.1f); ema.Update(); }
        var saved = ema.StateDict();
        var fresh = new Ema([p], decay: 0.99f);
        fresh.LoadStateDict(saved);
        for (int t = 3; t < 6; t++)
        {
            using (Autograd.NoGrad()) p.AddInPlace(GradCheck.Rand(50 + t, 33), 0.1f);
            ema.Update(); fresh.Update();
        }
        Assert.That(fresh.Shadow[0].ToArray(), Is.EqualTo(ema.Shadow[0].ToArray()));
        Assert.That(fresh.NumUpdates, Is.EqualTo(6));
        var bad = new Dictionary<string, Tensor>(saved) { ["shadow.0"] = Tensor.Zeros(3, 11) };
        Assert.That(Assert.Throws<ArgumentException>(() => fresh.LoadStateDict(bad))!.Message, Does.Contain("(3, 11)").And.Contain("(33,)"));
    }

    [Test]
    public void Ema_Update_AllocatesNothing()
    {
        var p = GradCheck.Rand(9, 10_000).RequiresGrad_();
        var ema = new Ema([p]);
        ema.Update();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) ema.Update();
        Assert.That((GC.GetAllocatedBytesForCurrentThread() - before) / 100, Is.LessThan(1024));
    }
}

[NonParallelizable]
public class OptimKernelTests
{
    // The vector loops and the scalar tail must do the same IEEE operations in the same order: running
    // an element through the vector loop (inside a long span) or through the tail (a one-element span)
    // must give identical bits, so results never depend on tensor length or CPU vector width.
    static float[] R(int seed, int n, float lo = -1, float hi = 1) => GradCheck.Rand(seed, lo, hi, n).ToArray();

    [TestCase(false)]
    [TestCase(true)]
    public void AdamKernel_VectorLanesMatchScalarTail(bool amsgrad)
    {
        const int n = 45;
        float[] p = R(1, n), g = R(2, n), m = R(3, n), v = R(4, n, 0, 1), x = R(5, n, 0, 1);
        float[] p1 = (float[])p.Clone(), m1 = (float[])m.Clone(), v1 = (float[])v.Clone(), x1 = (float[])x.Clone();
        AdamKernel.Step(p, g, m, v, amsgrad ? x : [], 0.9f, 0.999f, 1e-8f, 0.01f, 0.999f, 0.01f, 0.03f);
        for (int i = 0; i < n; i++)
            AdamKernel.Step(p1.AsSpan(i, 1), g.AsSpan(i, 1), m1.AsSpan(i, 1), v1.AsSpan(i, 1), amsgrad ? x1.AsSpan(i, 1) : [],
                0.9f, 0.999f, 1e-8f, 0.01f, 0.999f, 0.01f, 0.03f);
        Assert.That(p1, Is.EqualTo(p)); Assert.That(m1, Is.EqualTo(m)); Assert.That(v1, Is.EqualTo(v)); Assert.That(x1, Is.EqualTo(x));
    }

    /// <summary>A tensor above AdamKernel.ParallelThreshold (odd length) runs in ranges on the pool:
    /// the same bits as one serial pass of 45-element spans, on 1 and 2 threads.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void AdamKernel_SplitOverThePool_SameBitsAsSerial(bool amsgrad)
    {
        const int n = 3 * (1 << 16) + 7;
        float[] p = R(6, n), g = R(7, n), m = R(8, n), v = R(9, n, 0, 1), x = R(10, n, 0, 1);
        (float[], float[], float[], float[]) Run(int threads, bool serial)
        {
            float[] p1 = (float[])p.Clone(), m1 = (float[])m.Clone(), v1 = (float[])v.Clone(), x1 = (float[])x.Clone();
            int saved = WorkerPool.Threads;
            try
            {
                WorkerPool.Threads = threads;
                if (!serial) AdamKernel.Step(p1, g, m1, v1, amsgrad ? x1 : [], 0.9f, 0.999f, 1e-8f, 0f, 0.999f, 0.01f, 0.03f);
                else
                    for (int i = 0; i < n; i += 45)   // spans below the threshold: never split
                    {
                        int len = Math.Min(45, n - i);
                        AdamKernel.Step(p1.AsSpan(i, len), g.AsSpan(i, len), m1.AsSpan(i, len), v1.AsSpan(i, len),
                            amsgrad ? x1.AsSpan(i, len) : [], 0.9f, 0.999f, 1e-8f, 0f, 0.999f, 0.01f, 0.03f);
                    }
            }
            finally { WorkerPool.Threads = saved; }
            return (p1, m1, v1, x1);
        }
        var reference = Run(1, serial: true);
        foreach (int threads in new[] { 1, 2 })
        {
            var r = Run(threads, serial: false);
            Assert.That(r.Item1, Is.EqualTo(reference.Item1), $"p, {threads} threads");
            Assert.That(r.Item2, Is.EqualTo(reference.Item2)); Assert.That(r.Item3, Is.EqualTo(reference.Item3));
            Assert.That(r.Item4, Is.EqualTo(reference.Item4));
        }
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public void SgdKernel_VectorLanesMatchScalarTail(bool nesterov, bool first)
    {
        const int n = 45;
        float[] p = R(1, n), g = R(2, n), b = R(3, n);
        float[] p1 = (float[])p.Clone(), b1 = (float[])b.Clone();
        SgdKernel.Step(p, g, b, 0.1f, 0.9f, nesterov ? 0f : 0.1f, 0.01f, nesterov, first);
        for (int i = 0; i < n; i++)
            SgdKernel.Step(p1.AsSpan(i, 1), g.AsSpan(i, 1), b1.AsSpan(i, 1), 0.1f, 0.9f, nesterov ? 0f : 0.1f, 0.01f, nesterov, first);
        Assert.That(p1, Is.EqualTo(p)); Assert.That(b1, Is.EqualTo(b));
    }

    [Test]
    public void RmspropKernel_VectorLanesMatchScalarTail()
    {
        const int n = 45;
        float[] p = R(1, n), g = R(2, n), s = R(3, n, 1, 2), a = R(4, n, -0.5f, 0.5f), b = R(5, n);
        float[] p1 = (float[])p.Clone(), s1 = (float[])s.Clone(), a1 = (float[])a.Clone(), b1 = (float[])b.Clone();
        RmspropKernel.Step(p, g, s, a, b, 0.01f, 0.99f, 1e-8f, 0.01f, 0.9f);
        for (int i = 0; i < n; i++)
            RmspropKernel.Step(p1.AsSpan(i, 1), g.AsSpan(i, 1), s1.AsSpan(i, 1), a1.AsSpan(i, 1), b1.AsSpan(i, 1), 0.01f, 0.99f, 1e-8f, 0.01f, 0.9f);
        Assert.That(p1, Is.EqualTo(p)); Assert.That(s1, Is.EqualTo(s)); Assert.That(a1, Is.EqualTo(a)); Assert.That(b1, Is.EqualTo(b));
    }
}
