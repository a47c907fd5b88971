// RectifiedFlow (models/FlowMatching/RectifiedFlow.cs) beyond Euler: the Heun and midpoint solvers'
// order on ODEs with known solutions, the straightness measure on known fields, and reflow
// (2-rectified flow) making a trained 2-D flow measurably straighter and better in one step.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionFlow"
using Denoise;
using Denoise.Data;
using Denoise.Metrics;
using Denoise.Models.Common;
using Denoise.Models.FlowMatching;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class DiffusionFlowTests
{
    /// <summary>dx/dt = x: x(1) = e·x(0).</summary>
    static readonly IDenoiser Growth = Denoiser.From((x, t) => x);

    static double Error(OdeSolver solver, int steps)
    {
        var flow = new RectifiedFlow(Growth, new FlowConfig(Solver: solver));
        var x0 = Tensor.FromArray([1f, -2f], 2, 1);
        var x1 = flow.SampleFrom(x0, steps).ToArray();
        return Math.Max(Math.Abs(x1[0] - Math.E), Math.Abs(x1[1] + 2 * Math.E));
    }

    [Test]
    public void Solvers_ConvergeAtTheirOrder_OnExponentialGrowth()
    {
        // Halving Δt divides the error by 2 (first order) or 4 (second order).
        double euler = Error(OdeSolver.Euler, 20) / Error(OdeSolver.Euler, 40);
        double heun = Error(OdeSolver.Heun, 20) / Error(OdeSolver.Heun, 40);
        double midpoint = Error(OdeSolver.Midpoint, 20) / Error(OdeSolver.Midpoint, 40);
        TestContext.Out.WriteLine($"error ratios: Euler {euler:F2}, Heun {heun:F2}, midpoint {midpoint:F2}");
        Assert.That(euler, Is.InRange(1.8, 2.2));
        Assert.That(heun, Is.InRange(3.6, 4.4));
        Assert.That(midpoint, Is.InRange(3.6, 4.4));
        Assert.That(Error(OdeSolver.Heun, 10), Is.LessThan(Error(OdeSolver.Euler, 10) / 10));
    }

    [Test]
    public void Heun_And_Midpoint_AreExact_ForTimeLinearVelocity_InOneStep()
    {
        var field = Denoiser.From((x, t) => Tensor.OnesLike(x) * t.Reshape(-1, 1) * 2f);     // v = 2t ⇒ x₁ = x₀ + 1
        var x0 = Tensor.FromArray([0.5f, -1f], 2, 1);
        foreach (var solver in new[] { OdeSolver.Heun, OdeSolver.Midpoint })
            Assert.That(new RectifiedFlow(field, new FlowConfig(Solver: solver)).SampleFrom(x0, 1).ToArray(),
                Is.EqualTo(new[] { 1.5f, 0f }).Within(1e-6), solver.ToString());
        Assert.That(new RectifiedFlow(field).SampleFrom(x0, 1).ToArray(), Is.EqualTo(new[] { 0.5f, -1f }), "Euler reads v only at t = 0");
    }

    [Test]
    public void Straightness_IsZeroForConstantVelocity_AndPositiveForACurvedField()
    {
        var x0 = Tensor.Randn([16, 2], new Generator(1));
        var constant = new RectifiedFlow(Denoiser.From((x, t) => Tensor.OnesLike(x) * 0.7f));
        Assert.That(constant.Straightness(x0, 20), Is.LessThan(1e-6));
        // v = (cos 2πt, sin 2πt): a circle; S = mean‖v‖² − ‖mean v‖² = 1 − 0 (Euler's 20 samples of the turn).
        var circle = new RectifiedFlow(Denoiser.From((x, t) =>
            Tensor.Cat([(t * (2 * MathF.PI)).Cos().Unsqueeze(1), (t * (2 * MathF.PI)).Sin().Unsqueeze(1)], 1)));
        Assert.That(circle.Straightness(x0, 20), Is.EqualTo(1.0).Within(1e-4));
    }

    static void Train(RectifiedFlow flow, Mlp2D net, int steps, Func<int, (Tensor X0, Tensor X1)> batch, Generator gen, float lr)
    {
        var opt = new Adam(net.Parameters(), lr: lr);
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();
            var (x0, x1) = batch(i);
            var loss = flow.CouplingLoss(x0, x1, gen);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
    }

    [Test]
    public void Reflow_LowersStraightness_AndImprovesOneStepSamples_OnEightGaussians()
    {
        var gen = new Generator(21);
        var net1 = new Mlp2D(hidden: 64, gen: gen);
        var flow1 = new RectifiedFlow(net1);
        // 1-rectified flow: independent (noise, data) pairs.
        Train(flow1, net1, 600, _ => (Tensor.Randn([256, 2], gen), Toy2D.EightGaussians(256, gen)), gen, 3e-3f);

        // Reflow: the trained flow's own (x₀, ODE(x₀)) pairs; the new flow starts from the old weights (Liu et al.).
        var (noise, samples) = flow1.ReflowPairs([4096, 2], 40, gen);
        var net2 = new Mlp2D(hidden: 64, gen: new Generator(0));
        net2.LoadStateDict(net1.StateDict());
        var flow2 = new RectifiedFlow(net2);
        Train(flow2, net2, 400, i =>
        {
            var idx = Tensor.Randint(0, 4096, [256], gen);
            return (noise.IndexSelect(0, idx), samples.IndexSelect(0, idx));
        }, gen, 1e-3f);

        var probe = Tensor.Randn([1000, 2], new Generator(22));
        double s1 = flow1.Straightness(probe, 40), s2 = flow2.Straightness(probe, 40);
        var data = Toy2D.EightGaussians(1000, new Generator(23));
        double w1 = SampleDistances.SlicedWasserstein(flow1.SampleFrom(probe, 1), data);
        double w2 = SampleDistances.SlicedWasserstein(flow2.SampleFrom(probe, 1), data);
        TestContext.Out.WriteLine($"straightness 1-RF {s1:F4} → 2-RF {s2:F4}; one-step sliced W2 {w1:F4} → {w2:F4}");
        Assert.That(s2, Is.LessThan(0.5 * s1), "reflow straightens the flow");
        Assert.That(w2, Is.LessThan(0.8 * w1), "so one Euler step lands closer to the data");
    }

    [Test]
    public void ConditionalMlp_FlowLossAndGuidedSampling_HaveRightShapes()
    {
        var gen = new Generator(3);
        var net = new Mlp2D(hidden: 16, gen: gen, numClasses: 4);
        Assert.That(net.ParameterCount(), Is.EqualTo(new Mlp2D(hidden: 16).ParameterCount() + 5 * 16));
        var flow = new RectifiedFlow(net, new FlowConfig(NumClasses: 4, Solver: OdeSolver.Heun));
        var labels = Tensor.FromArray([0, 1, 2, 3], 4);
        using (var scope = TensorScope.Begin())
        {
            var loss = flow.Loss(Tensor.Randn([4, 2], gen), gen, labels);
            Assert.That(loss.Rank, Is.EqualTo(0));
            loss.Backward();
        }
        Assert.That(flow.Sample([4, 2], 3, gen, labels: labels, guidance: 2f).Shape.ToArray(), Is.EqualTo(new[] { 4, 2 }));
        Assert.Throws<ArgumentException>(() => new Mlp2D(hidden: 8).Forward(Tensor.Zeros(1, 2), Tensor.Zeros(1), Tensor.FromArray([0], 1)));
    }
}
