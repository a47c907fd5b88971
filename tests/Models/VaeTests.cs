// Tests of models/Autoencoders: the VAE's ELBO against a hand computation in double precision with a
// fixed ε (Bernoulli and Gaussian likelihoods, β in the loss), the IWAE bound (= the one-sample log
// weight for k = 1 with the same ε; ≥ the ELBO on average for k = 64), the conditional VAE's label
// plumbing, the latent-space tools' shapes and end points, AUROC on cases worked by hand, and a tiny
// VAE that learns on an MNIST subset.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Vae
using Denoise.Data;
using Denoise.Models.Autoencoders;
using Denoise.NN;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class VaeTests
{
    const int D = 4, L = 2, B = 3;

    // Encoder Linear(4 → 4) = [μ | log σ²], decoder Linear(2 → 4), weights fixed by formula.
    static readonly float[] We = Enumerable.Range(0, 2 * L * D).Select(i => 0.3f * MathF.Sin(1.7f * i + 0.2f)).ToArray();
    static readonly float[] Be = [0.1f, -0.2f, -0.5f, 0.3f];
    static readonly float[] Wd = Enumerable.Range(0, D * L).Select(i => 0.8f * MathF.Cos(0.9f * i - 0.4f)).ToArray();
    static readonly float[] Bd = [0.05f, -0.1f, 0.2f, -0.3f];
    static readonly float[] X = [0f, 0.2f, 1f, 0.7f, 1f, 1f, 0.1f, 0f, 0.5f, 0.9f, 0.3f, 0.6f];   // (3, 4) in [0, 1]
    static readonly float[] Eps = [0.5f, -1.2f, 0.3f, 0.8f, -0.7f, 1.5f];                       // (3, 2)

    static Vae TinyVae(Likelihood likelihood = Likelihood.Bernoulli, float beta = 1f, float std = 0.5f)
    {
        var enc = new Linear(D, 2 * L);
        var dec = new Linear(L, D);
        using (Autograd.NoGrad())
        {
            enc.Weight.CopyFrom(Tensor.FromArray(We, 2 * L, D)); enc.Bias!.CopyFrom(Tensor.FromArray(Be, 2 * L));
            dec.Weight.CopyFrom(Tensor.FromArray(Wd, D, L)); dec.Bias!.CopyFrom(Tensor.FromArray(Bd, D));
        }
        return new Vae(new VaeConfig(LatentDim: L, Likelihood: likelihood, Beta: beta, DecoderStd: std), enc, dec);
    }

    /// <summary>(log p(x|z), KL) of image b by plain double loops over the same weights.</summary>
    static (double LogPxz, double Kl) HandElbo(int b, Likelihood likelihood, double std)
    {
        var h = new double[2 * L];
        for (int o = 0; o < 2 * L; o++)
        {
            h[o] = Be[o];
            for (int i = 0; i < D; i++) h[o] += We[o * D + i] * (double)X[b * D + i];
        }
        double kl = 0;
        var z = new double[L];
        for (int j = 0; j < L; j++)
        {
            double mu = h[j], lv = h[L + j];
            z[j] = mu + Math.Exp(0.5 * lv) * Eps[b * L + j];
            kl += 0.5 * (Math.Exp(lv) + mu * mu - lv - 1);
        }
        double logp = 0;
        for (int o = 0; o < D; o++)
        {
            double logit = Bd[o];
            for (int j = 0; j < L; j++) logit += Wd[o * L + j] * z[j];
            double p = 1 / (1 + Math.Exp(-logit)), x = X[b * D + o];
            logp += likelihood == Likelihood.Bernoulli
                ? x * Math.Log(p) + (1 - x) * Math.Log(1 - p)
                : -0.5 * (x - p) * (x - p) / (std * std) - 0.5 * Math.Log(2 * Math.PI * std * std);
        }
        return (logp, kl);
    }

    [TestCase(Likelihood.Bernoulli)]
    [TestCase(Likelihood.Gaussian)]
    public void Elbo_TinyVaeWithFixedWeights_MatchesHandComputedValue(Likelihood likelihood)
    {
        var vae = TinyVae(likelihood);
        var t = vae.Terms(Tensor.FromArray(X, B, D), null, Tensor.FromArray(Eps, B, L));
        float[] elbo = t.Elbo.ToArray(), kl = t.Kl.ToArray();
        for (int b = 0; b < B; b++)
        {
            var (logp, klHand) = HandElbo(b, likelihood, 0.5);
            Assert.That(kl[b], Is.EqualTo(klHand).Within(1e-5 + 1e-5 * Math.Abs(klHand)), $"KL of image {b}");
            Assert.That(elbo[b], Is.EqualTo(logp - klHand).Within(1e-5 + 1e-5 * Math.Abs(logp - klHand)), $"ELBO of image {b}");
        }
    }

    [Test]
    public void Loss_BetaVae_WeighsKlByBeta()
    {
        var x = Tensor.FromArray(X, B, D);
        var gen1 = new Generator(3);
        float loss = TinyVae(beta: 4f).Loss(x, null, gen1).Item();
        double expected = 0;
        var eps = Tensor.Randn([B, L], new Generator(3));    // the same draw Loss makes
        var t = TinyVae().Terms(x, null, eps);
        float[] lp = t.LogLikelihood.ToArray(), kl = t.Kl.ToArray();
        for (int b = 0; b < B; b++) expected += (-lp[b] + 4.0 * kl[b]) / B;
        Assert.That(loss, Is.EqualTo(expected).Within(1e-4));
    }

    [Test]
    public void Iwae_KEqualsOne_EqualsOneSampleLogWeight_WithSameEps()
    {
        var vae = TinyVae();
        var x = Tensor.FromArray(X, B, D);
        var iwae = vae.ImportanceWeightedLogLikelihood(x, null, Tensor.FromArray(Eps, 1, B, L)).ToArray();
        var logW = vae.Terms(x, null, Tensor.FromArray(Eps, B, L)).LogWeight.ToArray();
        Assert.That(iwae, Is.EqualTo(logW).Within(1e-5));
    }

    [Test]
    public void Iwae_64Samples_IsAtLeastTheElboOnAverage()
    {
        var vae = TinyVae();
        var x = GradCheck.Rand(5, 0f, 1f, 16, D);
        var gen = new Generator(9);
        // The ELBO (analytic KL, one z per image) and the one-sample log weight are both unbiased for
        // the same number; average 200 draws of each so that the comparison is not of noise.
        double elbo = 0, mc = 0;
        for (int i = 0; i < 200; i++)
        {
            elbo += vae.Terms(x, null, gen).Elbo.Mean().Item() / 200.0;
            mc += vae.Terms(x, null, gen).LogWeight.Mean().Item() / 200.0;
        }
        double iwae = vae.ImportanceWeightedLogLikelihood(x, null, 64, gen).Mean().Item();
        Assert.Multiple(() =>
        {
            Assert.That(iwae, Is.GreaterThan(elbo), $"IWAE {iwae:F4} vs ELBO {elbo:F4}");
            Assert.That(mc, Is.EqualTo(elbo).Within(0.05), "E[log w] = ELBO");
        });
    }

    [Test]
    public void ConditionalVae_UsesLabels_AndRefusesMissingOnes()
    {
        var vae = new Vae(new VaeConfig(LatentDim: 3, NumClasses: 10, Width: 4), new Generator(1));
        var x = GradCheck.Rand(2, 0f, 1f, 2, 1, 28, 28);
        var y0 = Tensor.FromArray(new[] { 1, 7 }, 2);
        var y1 = Tensor.FromArray(new[] { 2, 3 }, 2);
        var eps = Tensor.Randn([2, 3], new Generator(4));
        var a = vae.Terms(x, y0, eps).Elbo.ToArray();
        var b = vae.Terms(x, y1, eps).Elbo.ToArray();
        Assert.That(a, Is.Not.EqualTo(b));
        var ex = Assert.Throws<ArgumentException>(() => vae.Terms(x, null, eps));
        Assert.That(ex!.Message, Does.Contain("needs labels").And.Contain("(2, 1, 28, 28)"));
        Assert.That(vae.Sample(4, new Generator(2), Tensor.FromArray(new[] { 0, 1, 2, 3 }, 4)).Shape.ToArray(), Is.EqualTo(new[] { 4, 1, 28, 28 }));
    }

    [Test]
    public void LatentTools_ShapesAndEndPoints()
    {
        var vae = new Vae(new VaeConfig(LatentDim: 2, Width: 4), new Generator(1));
        var x = GradCheck.Rand(3, 0f, 1f, 4, 1, 28, 28);
        var a = x.Narrow(0, 0, 2); var b = x.Narrow(0, 2, 2);
        var path = LatentSpace.Interpolate(vae, a, b, 5);
        Assert.That(path.Shape.ToArray(), Is.EqualTo(new[] { 10, 1, 28, 28 }));
        // t = 0 and t = 1 are the reconstructions of the end points.
        Assert.That(path.Select(0, 0).ToArray(), Is.EqualTo(vae.Reconstruct(a).Select(0, 0).ToArray()).Within(1e-5));
        Assert.That(path.Select(0, 9).ToArray(), Is.EqualTo(vae.Reconstruct(b).Select(0, 1).ToArray()).Within(1e-5));
        Assert.That(LatentSpace.Map(vae, 6).Shape.ToArray(), Is.EqualTo(new[] { 36, 1, 28, 28 }));
        var trav = LatentSpace.Traverse(vae, x.Narrow(0, 0, 1), [0, 1], [-2f, 0f, 2f]);
        Assert.That(trav.Shape.ToArray(), Is.EqualTo(new[] { 6, 1, 28, 28 }));
        var big = new Vae(new VaeConfig(LatentDim: 3, Width: 4), new Generator(1));
        Assert.That(Assert.Throws<ArgumentException>(() => LatentSpace.Map(big, 4))!.Message, Does.Contain("2-D latent"));
    }

    [Test]
    public void Auroc_KnownCases()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Anomaly.Auroc([0.1, 0.2, 0.8, 0.9], [false, false, true, true]), Is.EqualTo(1.0));
            Assert.That(Anomaly.Auroc([0.9, 0.8, 0.2, 0.1], [false, false, true, true]), Is.EqualTo(0.0));
            // positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered right.
            Assert.That(Anomaly.Auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), Is.EqualTo(0.75));
            // positive 1 vs negatives 1 (tie: ½) and 2 (wrong): ¼.
            Assert.That(Anomaly.Auroc([1, 1, 2], [true, false, false]), Is.EqualTo(0.25));
            Assert.That(Anomaly.Auroc([3, 3, 3, 3], [true, false, true, false]), Is.EqualTo(0.5));
        });
        Assert.Throws<ArgumentException>(() => Anomaly.Auroc([1, 2], [true, true]));
    }

    [Test]
    public void DenoisingAutoencoder_CorruptsOnlyWhenAsked()
    {
        var x = GradCheck.Rand(1, 0f, 1f, 2, 1, 28, 28);
        var plain = new ConvAutoencoder(new AutoencoderConfig(CodeDim: 4, Width: 4), new Generator(1));
        Assert.That(plain.Corrupt(x, new Generator(2)).ToArray(), Is.EqualTo(x.ToArray()));
        var noisy = new ConvAutoencoder(new AutoencoderConfig(CodeDim: 4, NoiseStd: 0.5f, Width: 4), new Generator(1)).Corrupt(x, new Generator(2)).ToArray();
        Assert.That(noisy, Is.Not.EqualTo(x.ToArray()));
        Assert.That(noisy.Min(), Is.GreaterThanOrEqualTo(0f)); Assert.That(noisy.Max(), Is.LessThanOrEqualTo(1f));
    }

    [Test]
    public void TinyVae_100StepsOnMnistSubset_LowersItsLossClearly()
    {
        MnistData mnist;
        try { mnist = Mnist.Load(); }
        catch (DatasetNotFoundException e) { Assert.Ignore($"MNIST unavailable: {e.Message}"); return; }
        var gen = new Generator(7);
        var vae = new Vae(new VaeConfig(LatentDim: 8, Width: 8), gen);
        var opt = new Adam(vae.Parameters(), lr: 2e-3f);
        var images = mnist.Train.Images.Narrow(0, 0, 512).Contiguous();
        using var loader = new DataLoader(images, null, batchSize: 32, seed: 1);
        var losses = new List<float>();
        for (int step = 0; step < 100; step++)
        {
            using var scope = TensorScope.Begin();
            var loss = vae.Loss(loader.Next().Inputs, null, gen);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
            losses.Add(loss.Item());
        }
        float first = losses.Take(5).Average(), last = losses.TakeLast(20).Average();
        // Untrained: ≈ 784·ln 2 ≈ 543 nats; a VAE that has learnt the mean digit and some strokes is well under 300.
        Assert.That(last, Is.LessThan(0.6f * first), $"loss {first:F1} → {last:F1} nats per image");
    }
}
