// NoiseSchedule (models/Diffusion/NoiseSchedule.cs): the β/ᾱ tables, the closed-form forward process
// q(x_t | x₀) checked statistically, and the ε / x₀ / v conversions.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionSchedule"
using Denoise;
using Denoise.Models.Diffusion;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class DiffusionScheduleTests
{
    [Test]
    public void LinearSchedule_HasDdpmEndpoints_AndMonotoneAlphaBar()
    {
        var s = NoiseSchedule.Linear(1000);
        Assert.That(s.Betas[0], Is.EqualTo(1e-4).Within(1e-12));
        Assert.That(s.Betas[999], Is.EqualTo(0.02).Within(1e-12));
        Assert.That(s.AlphaBars[0], Is.EqualTo(1 - 1e-4).Within(1e-12));
        // Ho et al. choose the range so that ᾱ_T ≈ 4e-5: x_T is pure noise.
        Assert.That(s.AlphaBars[999], Is.InRange(1e-5, 1e-4));
        AssertStrictlyDecreasing(s);
    }

    [Test]
    public void CosineSchedule_StartsNearOne_EndsNearZero_Monotone()
    {
        var s = NoiseSchedule.Cosine(1000);
        Assert.That(s.AlphaBars[0], Is.InRange(0.9999, 1.0));
        Assert.That(s.AlphaBars[999], Is.LessThan(1e-6));
        Assert.That(s.Betas.Max(), Is.LessThanOrEqualTo(0.999));
        AssertStrictlyDecreasing(s);
        // Nichol & Dhariwal's point: ᾱ falls roughly linearly in the middle instead of collapsing early.
        Assert.That(s.AlphaBars[499], Is.InRange(0.45, 0.55));
        Assert.That(NoiseSchedule.Linear(1000).AlphaBars[499], Is.LessThan(0.1));
    }

    [Test]
    public void LinearSchedule_ShortT_IsRescaledToStillEndNearNoise()
    {
        var s = NoiseSchedule.Linear(100);
        Assert.That(s.AlphaBars[99], Is.LessThan(1e-3));
        AssertStrictlyDecreasing(s);
    }

    static void AssertStrictlyDecreasing(NoiseSchedule s)
    {
        for (int t = 1; t < s.T; t++) Assert.That(s.AlphaBars[t], Is.LessThan(s.AlphaBars[t - 1]), $"ᾱ at t={t}");
        Assert.That(s.AlphaBars.All(a => a > 0 && a < 1));
    }

    [TestCase(ScheduleKind.Linear)]
    [TestCase(ScheduleKind.Cosine)]
    public void AddNoise_EmpiricalMeanAndVariance_MatchClosedForm(ScheduleKind kind)
    {
        var s = NoiseSchedule.Create(kind, 1000);
        const int N = 20_000;                                    // draws per (step, pixel)
        float[] pixels = [-1f, 0.3f, 0.9f];
        int[] steps = [0, 100, 500, 999];
        var gen = new Generator(7);
        foreach (int t in steps)
        {
            using var scope = TensorScope.Begin();
            var x0 = Tensor.FromArray(pixels, 1, 3).Expand(N, 3).Contiguous();
            var xt = s.AddNoise(x0, Tensor.Randn([N, 3], gen), NoiseSchedule.Steps(N, t));
            var mean = xt.Mean(0).ToArray();
            var variance = xt.Var(0).ToArray();
            double ab = s.AlphaBars[t];
            for (int p = 0; p < 3; p++)
            {
                double sd = Math.Sqrt(1 - ab);
                // 5 standard errors: the mean's is sd/√N, the variance's ≈ sd²·√(2/N).
                Assert.That(mean[p], Is.EqualTo(Math.Sqrt(ab) * pixels[p]).Within(5 * sd / Math.Sqrt(N) + 1e-6), $"mean at t={t}, x0={pixels[p]}");
                Assert.That(variance[p], Is.EqualTo(1 - ab).Within(5 * (1 - ab) * Math.Sqrt(2.0 / N) + 1e-7), $"var at t={t}");
            }
        }
    }

    [Test]
    public void AddNoise_PerSampleSteps_UseEachSamplesAlphaBar()
    {
        var s = NoiseSchedule.Linear(1000);
        var x0 = Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2);
        var eps = Tensor.FromArray([0.5f, -0.5f, 1f, -1f], 2, 2);
        var xt = s.AddNoise(x0, eps, Tensor.FromArray([10, 900], 2)).ToArray();
        double a0 = Math.Sqrt(s.AlphaBars[10]), s0 = Math.Sqrt(1 - s.AlphaBars[10]);
        double a1 = Math.Sqrt(s.AlphaBars[900]), s1 = Math.Sqrt(1 - s.AlphaBars[900]);
        Assert.That(xt[0], Is.EqualTo(a0 * 1 + s0 * 0.5).Within(1e-6));
        Assert.That(xt[1], Is.EqualTo(a0 * 2 - s0 * 0.5).Within(1e-6));
        Assert.That(xt[2], Is.EqualTo(a1 * 3 + s1 * 1).Within(1e-6));
        Assert.That(xt[3], Is.EqualTo(a1 * 4 - s1 * 1).Within(1e-6));
    }

    [TestCase(ScheduleKind.Linear)]
    [TestCase(ScheduleKind.Cosine)]
    public void EpsX0VConversions_AreConsistent(ScheduleKind kind)
    {
        var s = NoiseSchedule.Create(kind, 1000);
        var gen = new Generator(9);
        var x0 = Tensor.Randn([6, 1, 3, 3], gen);
        var eps = Tensor.Randn([6, 1, 3, 3], gen);
        var t = Tensor.FromArray([0, 1, 50, 400, 800, 999], 6);
        var xt = s.AddNoise(x0, eps, t);
        var v = s.Velocity(x0, eps, t);

        // Recovering one quantity from another divides by √ᾱ or √(1−ᾱ): 0.01 at t = 0, and ~1e-3 or less at the
        // cosine schedule's last step, which turns float rounding of x_t (≈1e-7·|x_t|) into a larger error —
        // the conversion's condition number, not a bug. The tolerance scales with it per sample.
        var a = t.ToIntArray().Select(tt => Math.Sqrt(s.AlphaBars[tt])).ToArray();
        var tol = a.Select(ab => 1e-5 + 1e-6 / Math.Min(ab, Math.Sqrt(1 - ab * ab))).ToArray();
        foreach (var (prediction, output) in new[] { (Prediction.Epsilon, eps), (Prediction.X0, x0), (Prediction.V, v) })
        {
            var (e, x) = s.ToEpsX0(prediction, output, xt, t);
            AssertPerSample(e, eps, tol, $"{prediction}: ε");
            AssertPerSample(x, x0, tol, $"{prediction}: x₀");
            Assert.That(Diff(s.Target(prediction, x0, eps, t), output), Is.EqualTo(0f), $"{prediction}: target");
        }
        // v is the rotation of (x₀, ε) by φ = atan(√(1−ᾱ)/√ᾱ): ‖x_t‖² + ‖v‖² = ‖x₀‖² + ‖ε‖² per sample.
        var lhs = (xt.Square() + v.Square()).Reshape(6, -1).Sum(1).ToArray();
        var rhs = (x0.Square() + eps.Square()).Reshape(6, -1).Sum(1).ToArray();
        for (int b = 0; b < 6; b++) Assert.That(lhs[b], Is.EqualTo(rhs[b]).Within(1e-4 * rhs[b]));
    }

    static void AssertPerSample(Tensor actual, Tensor expected, double[] tol, string what)
    {
        int B = tol.Length, n = actual.Numel / B;
        var x = actual.ToArray(); var y = expected.ToArray();
        for (int i = 0; i < x.Length; i++) Assert.That(x[i], Is.EqualTo(y[i]).Within(tol[i / n] * Math.Max(1, Math.Abs(y[i]))), $"{what}, sample {i / n}");
    }

    static float Diff(Tensor a, Tensor b) => (a - b).Abs().Max().Item();

    [Test]
    public void Timestep_OutOfRange_Throws()
    {
        var s = NoiseSchedule.Linear(10);
        var ex = Assert.Throws<ArgumentException>(() => s.AddNoise(Tensor.Zeros(1, 2), Tensor.Zeros(1, 2), Tensor.FromArray([10], 1)));
        Assert.That(ex!.Message, Does.Contain("10"));
        Assert.Throws<ArgumentException>(() => s.AddNoise(Tensor.Zeros(1, 2), Tensor.Zeros(1, 2), Tensor.Zeros(1)));
        Assert.Throws<ArgumentException>(() => NoiseSchedule.Linear(0));
    }
}
