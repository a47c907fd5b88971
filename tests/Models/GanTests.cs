// Tests of models/Gan: the DCGAN-S parameter count of WORKLOADS M4; the WGAN-GP penalty against a
// finite-difference input gradient, and its create-graph backward against finite differences in the
// critic's weights; a D step leaves G's weights alone and a G step D's; sampling uses BatchNorm's
// running statistics (an image depends only on its own z); the losses on known logits; the monitors'
// warnings; the conditional GAN's labels.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Gan
using Denoise.Models.Gan;
using Denoise.NN;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class GanTests
{
    [Test]
    public void Dcgan_ParameterCount_MatchesWorkloadM4()
    {
        var gan = new Dcgan(new DcganConfig(), new Generator(1));
        Assert.That(gan.G.ParameterCount(), Is.EqualTo(552_513));
        Assert.That(gan.D.ParameterCount(), Is.EqualTo(138_817));
        Assert.That(gan.ParameterCount(), Is.EqualTo(Dcgan.WorkloadParameterCount));
    }

    // A small conv critic written functionally so its weights can be gradient-checked:
    // (B, 1, 8, 8) → Conv 3×3 s2 p1 (1→3), SiLU → Flatten (B, 48) → Linear(48→1). SiLU, not the real
    // critic's LeakyReLU: finite differences with h = 1e-2 are wrong wherever a pre-activation lies
    // within h of LeakyReLU's kink, and with 144 of them some always do; the penalty's formula and
    // its double backward do not depend on the activation (LeakyReLU's own second order is tested in tests/Engine).
    static Tensor Critic(Tensor x, Tensor[] w) =>
        F.Linear(F.Conv2d(x, w[0], w[1], (2, 2), (1, 1)).SiLU().Flatten(1), w[2], w[3]);

    static Tensor[] CriticWeights() =>
        [GradCheck.Rand(1, 3, 1, 3, 3), GradCheck.Rand(2, 3), GradCheck.Rand(3, -0.3f, 0.3f, 1, 48), GradCheck.Rand(4, 1)];

    [Test]
    public void GradientPenalty_EqualsFiniteDifferenceOfCriticInputGradientNorm()
    {
        const int B = 3; const float lambda = 10f;
        var w = CriticWeights();
        var real = GradCheck.Rand(5, 3, 1, 8, 8);
        var fake = GradCheck.Rand(6, 3, 1, 8, 8);
        var eps = Tensor.FromArray([0.2f, 0.5f, 0.9f], B);
        var (penalty, meanNorm) = WganGp.GradientPenalty(x => Critic(x, w), real, fake, eps, lambda);

        // Independently: x̂ in double, ∂D/∂x̂ per pixel by Richardson-extrapolated central differences
        // (GradCheck's scheme: h = 1e-2, error ~1e-5 relative), then λ·mean (‖g‖ − 1)².
        float[] r = real.ToArray(), f = fake.ToArray(), e = eps.ToArray();
        var xHat = new float[r.Length];
        for (int i = 0; i < r.Length; i++) { int b = i / 64; xHat[i] = e[b] * r[i] + (1 - e[b]) * f[i]; }
        double CriticSum(float[] x) { using (Autograd.NoGrad()) return Critic(Tensor.FromArray(x, B, 1, 8, 8), w).Sum().Item(); }
        double Diff(int i, double h)
        {
            var p = (float[])xHat.Clone(); p[i] += (float)h;
            var m = (float[])xHat.Clone(); m[i] -= (float)h;
            return (CriticSum(p) - CriticSum(m)) / (2 * h);
        }
        var sq = new double[B];
        for (int i = 0; i < xHat.Length; i++)
        {
            double g = (4 * Diff(i, 5e-3) - Diff(i, 1e-2)) / 3;
            sq[i / 64] += g * g;
        }
        double expected = lambda * sq.Average(s => (Math.Sqrt(s) - 1) * (Math.Sqrt(s) - 1));
        Assert.That(penalty.Item(), Is.EqualTo(expected).Within(1e-3 * Math.Abs(expected) + 1e-4));
        Assert.That(meanNorm, Is.EqualTo(sq.Average(Math.Sqrt)).Within(1e-3));
    }

    [Test]
    public void GradientPenalty_BackwardThroughCreateGraph_MatchesFiniteDifferencesInCriticWeights()
    {
        var real = GradCheck.Rand(5, 2, 1, 8, 8);
        var fake = GradCheck.Rand(6, 2, 1, 8, 8);
        var eps = Tensor.FromArray([0.3f, 0.7f], 2);
        GradCheck.Check(w => WganGp.GradientPenalty(x => Critic(x, w), real, fake, eps, 10f).Penalty, CriticWeights(), what: "gradient penalty");
    }

    static float[][] Snapshot(IEnumerable<Tensor> ps) => ps.Select(p => p.ToArray()).ToArray();

    [Test]
    public void DiscriminatorStep_LeavesGenerator_AndGeneratorStep_LeavesDiscriminator()
    {
        var gen = new Generator(2);
        var gan = new Dcgan(new DcganConfig(), gen);
        var real = GradCheck.Rand(7, -1f, 1f, 4, 1, 28, 28);
        var fake = gan.Generate(gan.SampleZ(4, gen), null);

        var g0 = Snapshot(gan.G.Parameters()); var d0 = Snapshot(gan.D.Parameters());
        gan.DiscriminatorStep(real, fake, null);
        Assert.That(Snapshot(gan.G.Parameters()), Is.EqualTo(g0), "a D step changed G");
        Assert.That(Snapshot(gan.D.Parameters()), Is.Not.EqualTo(d0), "a D step did not change D");

        var d1 = Snapshot(gan.D.Parameters()); var g1 = Snapshot(gan.G.Parameters());
        gan.GeneratorStep(gan.Generate(gan.SampleZ(4, gen), null), null);
        Assert.That(Snapshot(gan.D.Parameters()), Is.EqualTo(d1), "a G step changed D");
        Assert.That(Snapshot(gan.G.Parameters()), Is.Not.EqualTo(g1), "a G step did not change G");
    }

    [Test]
    public void WganCriticLoop_LeavesGeneratorUntilItsOwnStep()
    {
        var gen = new Generator(3);
        var wgan = new WganGp(new WganGpConfig(NCritic: 2), gen);
        var real = GradCheck.Rand(8, -1f, 1f, 2, 1, 28, 28);
        var g0 = Snapshot(wgan.G.Parameters());
        int calls = 0;
        var stats = wgan.TrainStep(() => { calls++; if (calls == 2) Assert.That(Snapshot(wgan.G.Parameters()), Is.EqualTo(g0)); return (real, null); }, gen);
        Assert.That(calls, Is.EqualTo(2), "one real batch per critic step");
        Assert.That(stats.GradientPenalty, Is.GreaterThan(0f));
        Assert.That(float.IsFinite(stats.LossD) && float.IsFinite(stats.LossG));
    }

    [Test]
    public void Sample_InEvalMode_SameZGivesSameImageInAnyBatch()
    {
        var gen = new Generator(4);
        var gan = new Dcgan(new DcganConfig(), gen);
        var real = GradCheck.Rand(9, -1f, 1f, 8, 1, 28, 28);
        for (int i = 0; i < 3; i++) using (TensorScope.Begin()) gan.TrainStep(() => (real, null), gen);   // running stats move off (0, 1)

        var z = gan.SampleZ(1, new Generator(10));
        var batchA = Tensor.Cat([z, gan.SampleZ(7, new Generator(11))], 0);
        var batchB = Tensor.Cat([gan.SampleZ(3, new Generator(12)), z], 0);
        var a = gan.Sample(batchA).Select(0, 0).ToArray();
        var b = gan.Sample(batchB).Select(0, 3).ToArray();
        Assert.That(a, Is.EqualTo(b).Within(1e-5), "eval-mode samples depend on the rest of the batch");
        Assert.That(gan.G.IsTraining, Is.True, "Sample must restore training mode");

        // The check has teeth: in training mode BatchNorm uses the batch's statistics.
        using (Autograd.NoGrad())
        {
            var ta = gan.G.Forward(batchA).Select(0, 0).ToArray();
            var tb = gan.G.Forward(batchB).Select(0, 3).ToArray();
            Assert.That(ta.Zip(tb).Max(p => Math.Abs(p.First - p.Second)), Is.GreaterThan(1e-3f));
        }
    }

    [Test]
    public void Losses_OnKnownLogits()
    {
        var real = Tensor.FromArray([2f, -1f], 2, 1);
        var fake = Tensor.FromArray([0.5f, -3f], 2, 1);
        static double Sp(double v) => Math.Log(1 + Math.Exp(v));
        Assert.Multiple(() =>
        {
            Assert.That(GanLosses.Discriminator(real, fake, GanLoss.NonSaturating).Item(),
                Is.EqualTo((Sp(-2) + Sp(1)) / 2 + (Sp(0.5) + Sp(-3)) / 2).Within(1e-5));
            Assert.That(GanLosses.Generator(fake, GanLoss.NonSaturating).Item(), Is.EqualTo((Sp(-0.5) + Sp(3)) / 2).Within(1e-5));
            Assert.That(GanLosses.Discriminator(real, fake, GanLoss.Hinge).Item(), Is.EqualTo((0 + 2) / 2.0 + (1.5 + 0) / 2.0).Within(1e-6));
            Assert.That(GanLosses.Generator(fake, GanLoss.Hinge).Item(), Is.EqualTo(1.25).Within(1e-6));
            Assert.That(GanLosses.Discriminator(real, fake, GanLoss.Wasserstein).Item(), Is.EqualTo(-1.25 - 0.5).Within(1e-6));
            Assert.That(GanLosses.Accuracy(real, fake, GanLoss.NonSaturating), Is.EqualTo((0.5f, 0.5f)));
        });
    }

    [Test]
    public void Monitor_WarnsWhenDWinsOutright_AndOnNaN()
    {
        var monitor = new GanMonitor(patience: 5);
        var wins = new GanStepStats(0.01f, 6f, 1f, 1f, 0.1f, 1e-4f);
        var warnings = Enumerable.Range(1, 10).Select(i => monitor.Observe(i, wins)).ToList();
        Assert.That(warnings.Take(4), Is.All.Null);
        Assert.That(warnings[4], Does.Contain("won outright for 5 steps"));
        Assert.That(warnings.Skip(5), Is.All.Null, "warned once per run");
        Assert.That(monitor.Observe(11, wins with { DAccuracyFake = 0.5f }), Is.Null);
        Assert.That(monitor.DWinsRun, Is.Zero);
        Assert.That(monitor.Observe(12, wins with { LossG = float.NaN }), Does.Contain("not finite"));
    }

    [TestCase(ConditioningKind.Projection)]
    [TestCase(ConditioningKind.Concat)]
    public void ConditionalGan_DependsOnLabels(ConditioningKind kind)
    {
        var gen = new Generator(5);
        var cgan = new ConditionalGan(new ConditionalGanConfig(Discriminator: kind), gen);
        var z = cgan.SampleZ(2, gen);
        var y1 = Tensor.FromArray(new[] { 3, 3 }, 2);
        var y2 = Tensor.FromArray(new[] { 8, 8 }, 2);
        Assert.That(cgan.Sample(z, y1).ToArray(), Is.Not.EqualTo(cgan.Sample(z, y2).ToArray()));
        var x = GradCheck.Rand(1, -1f, 1f, 2, 1, 28, 28);
        using (Autograd.NoGrad()) Assert.That(cgan.Discriminate(x, y1).ToArray(), Is.Not.EqualTo(cgan.Discriminate(x, y2).ToArray()));
        var stats = cgan.TrainStep(() => (x, y1), gen);
        Assert.That(float.IsFinite(stats.LossD) && float.IsFinite(stats.LossG));
        Assert.Throws<ArgumentException>(() => cgan.Sample(z));
    }
}
