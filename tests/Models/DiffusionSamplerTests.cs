// The samplers on deterministic toy networks, where the right answer is known exactly: DDIM's
// determinism and step subsequence, DDIM(η = 1, all steps) = DDPM ancestral sampling with σ² = β̃,
// classifier-free guidance at w = 0 / 1, label dropout, inpainting keeps known pixels, slerp.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionSampler"
using Denoise;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class DiffusionSamplerTests
{
    /// <summary>A fixed smooth "network": 0.4·x·(1 + 0.1·label)·cos(t/T) + 0.05 — different per label, null label = 3.</summary>
    static readonly IDenoiser Toy = Denoiser.From((x, t, labels) =>
    {
        int B = x.Shape[0];
        var c = labels == null ? Tensor.Full([B], 3f) : Tensor.FromArray(labels.ToIntArray().Select(l => (float)l).ToArray(), B);
        var scale = ((1f + 0.1f * c) * (t / 1000f).Cos()).Reshape(B, 1);
        return (0.4f * x.Reshape(B, -1) * scale + 0.05f).Reshape(x.Shape.ToArray());
    });

    [Test]
    public void Ddim_EtaZero_IsDeterministic_IndependentOfGeneratorState()
    {
        var ddim = new Ddim(new Ddpm(new UNet(DiffusionUNetTests.Tiny(), new Generator(1))), new DdimConfig(Steps: 8));
        var xT = Tensor.Randn([2, 1, 8, 8], new Generator(2));
        var a = ddim.SampleFrom(xT, new Generator(3)).ToArray();
        var advanced = new Generator(4);
        Tensor.Randn([1000], advanced);
        var b = ddim.SampleFrom(xT, advanced).ToArray();
        var c = ddim.SampleFrom(xT, null).ToArray();
        Assert.That(b, Is.EqualTo(a), "another generator state gives the same sample");
        Assert.That(c, Is.EqualTo(a), "no generator at all gives the same sample");
        Assert.That(ddim.Sample([2, 1, 8, 8], new Generator(2)).ToArray(), Is.EqualTo(a), "the same seed gives the same x_T and sample");

        var stochastic = new Ddim(ddim.Model, new DdimConfig(Steps: 8, Eta: 1f));
        Assert.That(stochastic.SampleFrom(xT, new Generator(3)).ToArray(), Is.Not.EqualTo(stochastic.SampleFrom(xT, new Generator(5)).ToArray()),
            "η > 0 draws fresh noise");
    }

    [Test]
    public void Ddim_Timesteps_AreTrailingSubsequence()
    {
        var model = new Ddpm(Toy);
        var t50 = new Ddim(model, new DdimConfig(Steps: 50)).Timesteps;
        Assert.That(t50.Length, Is.EqualTo(50));
        Assert.That(t50[0], Is.EqualTo(999), "starts from pure noise");
        Assert.That(t50[^1], Is.EqualTo(19));
        Assert.That(t50.Zip(t50.Skip(1)).All(p => p.First - p.Second == 20));
        Assert.That(new Ddim(model, new DdimConfig(Steps: 1000)).Timesteps, Is.EqualTo(Enumerable.Range(0, 1000).Reverse().ToArray()));
        Assert.That(new Ddim(model, new DdimConfig(Steps: 1)).Timesteps, Is.EqualTo(new[] { 999 }));
        Assert.Throws<ArgumentException>(() => new Ddim(model, new DdimConfig(Steps: 0)));
        Assert.Throws<ArgumentException>(() => new Ddim(model, new DdimConfig(Steps: 1001)));
    }

    [TestCase(Prediction.Epsilon)]
    [TestCase(Prediction.V)]
    public void Ddim_EtaOne_AllSteps_EqualsDdpmAncestral_WithPosteriorVariance(Prediction prediction)
    {
        // Song et al. §4.1: η = 1 makes the generative process DDPM's, with σ_t² = β̃_t. Both draw x_T
        // and then one z per step except the last, so the same seed must give the same sample.
        var ddpm = new Ddpm(Toy, new DdpmConfig(Timesteps: 60, Prediction: prediction, PosteriorVariance: true));
        var ddim = new Ddim(ddpm, new DdimConfig(Steps: 60, Eta: 1f));
        var a = ddpm.Sample([4, 3], new Generator(8)).ToArray();
        var b = ddim.Sample([4, 3], new Generator(8)).ToArray();
        for (int i = 0; i < a.Length; i++) Assert.That(b[i], Is.EqualTo(a[i]).Within(1e-4 + 1e-4 * Math.Abs(a[i])), $"element {i}");
    }

    [Test]
    public void Guidance_ScaleZeroIsUnconditional_OneIsConditional_OtherwiseExtrapolates()
    {
        var x = Tensor.Randn([3, 1, 2, 2], new Generator(1));
        var t = Tensor.FromArray([10f, 500f, 990f], 3);
        var labels = Tensor.FromArray([0, 1, 2], 3);
        var uncond = Toy.Forward(x, t, Tensor.FromArray([3, 3, 3], 3)).ToArray();
        var cond = Toy.Forward(x, t, labels).ToArray();
        Assert.That(cond, Is.Not.EqualTo(uncond));

        var w0 = ClassifierFreeGuidance.Predict(Toy, x, t, labels, 0f, nullLabel: 3).ToArray();
        var w1 = ClassifierFreeGuidance.Predict(Toy, x, t, labels, 1f, nullLabel: 3).ToArray();
        var w3 = ClassifierFreeGuidance.Predict(Toy, x, t, labels, 3f, nullLabel: 3).ToArray();
        for (int i = 0; i < cond.Length; i++)
        {
            Assert.That(w0[i], Is.EqualTo(uncond[i]).Within(1e-6));
            Assert.That(w1[i], Is.EqualTo(cond[i]).Within(1e-6));
            Assert.That(w3[i], Is.EqualTo(uncond[i] + 3 * (cond[i] - uncond[i])).Within(1e-5));
        }
    }

    [Test]
    public void Guidance_InSamplers_ScaleZeroGivesUnconditionalSamples_OneGivesConditional()
    {
        var model = new Ddpm(Toy, new DdpmConfig(NumClasses: 3));
        var ddim = new Ddim(model, new DdimConfig(Steps: 10));
        var xT = Tensor.Randn([3, 4], new Generator(2));
        var labels = Tensor.FromArray([0, 1, 2], 3);
        var unconditional = ddim.SampleFrom(xT).ToArray();
        var conditional = ddim.SampleFrom(xT, labels: labels).ToArray();
        AssertClose(ddim.SampleFrom(xT, labels: labels, guidance: 0f).ToArray(), unconditional, "DDIM w = 0");
        AssertClose(ddim.SampleFrom(xT, labels: labels, guidance: 1f).ToArray(), conditional, "DDIM w = 1");
        Assert.That(conditional, Is.Not.EqualTo(unconditional));

        var flow = new RectifiedFlow(Toy, new FlowConfig(NumClasses: 3));
        AssertClose(flow.SampleFrom(xT, 5, labels: labels, guidance: 0f).ToArray(), flow.SampleFrom(xT, 5).ToArray(), "flow w = 0");
        AssertClose(flow.SampleFrom(xT, 5, labels: labels, guidance: 1f).ToArray(), flow.SampleFrom(xT, 5, labels: labels).ToArray(), "flow w = 1");
    }

    static void AssertClose(float[] a, float[] b, string what)
    {
        Assert.That(a.Length, Is.EqualTo(b.Length));
        for (int i = 0; i < a.Length; i++) Assert.That(a[i], Is.EqualTo(b[i]).Within(1e-4 + 1e-4 * Math.Abs(b[i])), $"{what}, element {i}");
    }

    [Test]
    public void DropLabels_ReplacesWithNullLabel_AtRateP()
    {
        var labels = Tensor.FromArray(Enumerable.Range(0, 4000).Select(i => i % 10).ToArray(), 4000);
        var gen = new Generator(3);
        Assert.That(ClassifierFreeGuidance.DropLabels(labels, 0f, 10, gen)!.ToIntArray(), Is.EqualTo(labels.ToIntArray()));
        Assert.That(ClassifierFreeGuidance.DropLabels(labels, 1f, 10, gen)!.ToIntArray().All(l => l == 10));
        Assert.That(ClassifierFreeGuidance.DropLabels(null, 0.5f, 10, gen), Is.Null);
        var dropped = ClassifierFreeGuidance.DropLabels(labels, 0.2f, 10, gen)!.ToIntArray();
        double rate = dropped.Count(l => l == 10) / 4000.0;
        Assert.That(rate, Is.EqualTo(0.2).Within(0.03));                  // ±4.7 standard errors
        Assert.That(dropped.Zip(labels.ToIntArray()).All(p => p.First == 10 || p.First == p.Second), "kept labels are unchanged");
    }

    [Test]
    public void Inpaint_KeepsKnownPixelsExactly_AndFillsTheRest()
    {
        var ddpm = new Ddpm(Toy, new DdpmConfig(Timesteps: 50));
        var known = Tensor.Randn([2, 1, 4, 4], new Generator(1));
        var maskData = new float[16];
        for (int i = 0; i < 8; i++) maskData[i] = 1f;                       // top half known
        var mask = Tensor.FromArray(maskData, 1, 1, 4, 4);
        var result = ddpm.Inpaint(known, mask, new Generator(2));
        var r = result.ToArray(); var k = known.ToArray();
        for (int b = 0; b < 2; b++)
            for (int p = 0; p < 16; p++)
                if (p < 8) Assert.That(r[b * 16 + p], Is.EqualTo(k[b * 16 + p]), "known pixel changed");
                else Assert.That(r[b * 16 + p], Is.Not.EqualTo(k[b * 16 + p]));
        Assert.Throws<ArgumentException>(() => ddpm.Sample([1, 2], new Generator(1), known: Tensor.Zeros(1, 2)));
    }

    [Test]
    public void Slerp_KeepsEndpoints_AndNormOnTheArc()
    {
        var a = Tensor.FromArray([3f, 0f, 0f], 1, 3);
        var b = Tensor.FromArray([0f, 3f, 0f], 1, 3);
        Assert.That(Ddim.Slerp(a, b, 0f).ToArray(), Is.EqualTo(a.ToArray()).Within(1e-6));
        Assert.That(Ddim.Slerp(a, b, 1f).ToArray(), Is.EqualTo(b.ToArray()).Within(1e-6));
        var mid = Ddim.Slerp(a, b, 0.5f).ToArray();
        Assert.That(mid[0], Is.EqualTo(3 / Math.Sqrt(2)).Within(1e-5));
        Assert.That(mid[1], Is.EqualTo(3 / Math.Sqrt(2)).Within(1e-5));
    }

    [Test]
    public void Interpolate_EndpointsAreTheTwoSamples()
    {
        var ddim = new Ddim(new Ddpm(Toy), new DdimConfig(Steps: 10));
        var a = Tensor.Randn([1, 1, 3, 3], new Generator(1));
        var b = Tensor.Randn([1, 1, 3, 3], new Generator(2));
        var path = ddim.Interpolate(a, b, 5);
        Assert.That(path.Shape.ToArray(), Is.EqualTo(new[] { 5, 1, 3, 3 }));
        AssertClose(path.Narrow(0, 0, 1).ToArray(), ddim.SampleFrom(a).ToArray(), "λ = 0");
        AssertClose(path.Narrow(0, 4, 1).ToArray(), ddim.SampleFrom(b).ToArray(), "λ = 1");
    }

    [Test]
    public void Sampling_WithEma_UsesAveragedWeights_AndRestoresParameters()
    {
        var net = new Mlp2D(hidden: 8, gen: new Generator(1));
        var ema = new Ema(net.Parameters(), decay: 0.5f, warmup: false);
        var before = net.Parameters().Select(p => p.ToArray()).ToList();
        using (Autograd.NoGrad()) foreach (var p in net.Parameters()) p.AddInPlace(Tensor.OnesLike(p), 1f);   // the live weights move away
        var flow = new RectifiedFlow(net);
        var x0 = Tensor.Randn([4, 2], new Generator(2));
        var live = flow.SampleFrom(x0, 3).ToArray();
        flow.Ema = ema;
        var averaged = flow.SampleFrom(x0, 3).ToArray();
        Assert.That(averaged, Is.Not.EqualTo(live));
        foreach (var (p, b) in net.Parameters().Zip(before))
            Assert.That(p.ToArray(), Is.EqualTo(b.Select(v => v + 1f).ToArray()), "parameters restored after sampling");
        // With the live weights swapped for the EMA's (= the initial weights), sampling equals a fresh copy's.
        var reference = new RectifiedFlow(new Mlp2D(hidden: 8, gen: new Generator(1)));
        Assert.That(averaged, Is.EqualTo(reference.SampleFrom(x0, 3).ToArray()));
    }
}
