// Dcgan — DCGAN (Radford, Metz & Chintala, ICLR 2016) at the size of WORKLOADS M4 ("DCGAN-S", 28×28×1):
//
//   Generator      z (B, 64) → Linear(64→128·7·7), BatchNorm1d(6272), ReLU → (B, 128, 7, 7)
//                  → ConvTranspose 4×4 s2 p1 (128→64), BatchNorm2d, ReLU → ConvTranspose 4×4 s2 p1 (64→1), Tanh
//   Discriminator  x (B, 1, 28, 28) → Conv 4×4 s2 p1 (1→64), LeakyReLU(0.2) → Conv 4×4 s2 p1 (64→128),
//                  BatchNorm2d, LeakyReLU(0.2) → Flatten → Linear(128·7·7→1) (a logit)
//   552,513 + 138,817 = 691,330 parameters; non-saturating BCE-with-logits loss; Adam(2e-4, β 0.5/0.999).
//
// One training step (WORKLOADS M4; Goodfellow et al. 2014, Algorithm 1 with k = 1):
//   1. z ~ N(0, I);  fake = G(z)                               (once)
//   2. D step: ascend log D(x) + log(1 − D(fake.detach()))      (BCE: real → 1, fake → 0)
//   3. G step: ascend log D(fake)                               (the non-saturating form of §3)
//   4. EMA of G's weights
// Images are in [−1, 1] (Pixels.ToSigned), matching Tanh.
//
// The two network classes also serve the other GANs: DcganGenerator takes a number of classes (the
// one-hot joins z), DcganDiscriminator can drop BatchNorm (a WGAN-GP critic), take extra input channels
// (concatenated labels) or add a projection term (ConditionalGan.cs).
//
//   var gan = new Dcgan(new DcganConfig(), gen);
//   var stats = gan.TrainStep(() => (Pixels.ToSigned(batch.Inputs), null), gen);
//   var images = gan.Sample(gan.SampleZ(64, gen));
// Run: dotnet run -c Release --project examples/Gan -- --model dcgan
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Gan
using Denoise.NN;

namespace Denoise.Models.Gan;

public sealed class DcganGenerator : Layer
{
    public const int DefaultZDim = 64;
    readonly Sequential fc, deconv;

    /// <param name="numClasses">K &gt; 0: the input is [z | onehot(y)] (B, zDim + K).</param>
    public DcganGenerator(int zDim = DefaultZDim, int numClasses = 0, Generator? gen = null)
    {
        fc = Add("fc", new Sequential(new Linear(zDim + numClasses, 128 * 7 * 7, gen: gen), new BatchNorm1d(128 * 7 * 7), new ReLU()));
        deconv = Add("deconv", new Sequential(
            new ConvTranspose2d(128, 64, 4, stride: 2, padding: 1, gen: gen), new BatchNorm2d(64), new ReLU(),   // 7 → 14
            new ConvTranspose2d(64, 1, 4, stride: 2, padding: 1, gen: gen), new Tanh()));                        // 14 → 28
    }

    /// <summary>z (B, zDim[+K]) → images (B, 1, 28, 28) in (−1, 1).</summary>
    public override Tensor Forward(Tensor z) => deconv.Forward(fc.Forward(z).Reshape(-1, 128, 7, 7)); // (B, 6272) → (B, 128, 7, 7)
}

public sealed class DcganDiscriminator : Layer
{
    public const int FeatureDim = 128 * 7 * 7;
    readonly Sequential features;
    readonly Linear head;

    /// <param name="inChannels">1, or 1 + K with a concatenated one-hot label.</param>
    /// <param name="batchNorm">false for a WGAN-GP critic (the penalty is per-sample; BatchNorm mixes samples).</param>
    public DcganDiscriminator(int inChannels = 1, bool batchNorm = true, Generator? gen = null)
    {
        features = Add("net", new Sequential(
            new Conv2d(inChannels, 64, 4, stride: 2, padding: 1, gen: gen), new LeakyReLU(0.2f),                 // 28 → 14
            new Conv2d(64, 128, 4, stride: 2, padding: 1, gen: gen)));                                             // 14 → 7
        if (batchNorm) features.Append(new BatchNorm2d(128));
        features.Append(new LeakyReLU(0.2f));
        features.Append(new Flatten());                                                                            // (B, 6272)
        head = Add("head", new Linear(FeatureDim, 1, gen: gen));
    }

    /// <summary>φ(x) (B, 6272), the input of the final Linear.</summary>
    public Tensor Features(Tensor x) => features.Forward(x);

    public Tensor Head(Tensor phi) => head.Forward(phi);

    /// <summary>x (B, C, 28, 28) → logits (B, 1).</summary>
    public override Tensor Forward(Tensor x) => head.Forward(features.Forward(x));
}

/// <param name="Loss">NonSaturating (M4) or Hinge.</param>
/// <param name="EmaDecay">Decay of G's weight average (with warm-up; engine/Optim/Ema.cs).</param>
public sealed record DcganConfig(GanLoss Loss = GanLoss.NonSaturating, float Lr = 2e-4f, float Beta1 = 0.5f, float Beta2 = 0.999f,
                                 float EmaDecay = 0.999f, int ZDim = DcganGenerator.DefaultZDim);

public sealed class Dcgan : Gan
{
    public const long WorkloadParameterCount = 691_330;
    public DcganConfig Config { get; }

    public Dcgan(DcganConfig config, Generator? gen = null)
        : base(new DcganGenerator(config.ZDim, 0, gen), new DcganDiscriminator(1, batchNorm: true, gen),
               config.ZDim, 0, config.Loss, config.Lr, config.Lr, config.Beta1, config.Beta2, config.EmaDecay)
    {
        if (config.Loss == GanLoss.Wasserstein) throw new ArgumentException("Dcgan: the Wasserstein loss needs a critic without BatchNorm and a penalty; use WganGp.");
        Config = config;
    }

    public override Tensor Generate(Tensor z, Tensor? labels) => G.Forward(z);
    public override Tensor Discriminate(Tensor x, Tensor? labels) => ((DcganDiscriminator)D).Forward(x);

    public override GanStepStats TrainStep(Func<(Tensor Images, Tensor? Labels)> nextReal, Generator gen)
    {
        var (real, _) = nextReal();
        var fake = G.Forward(SampleZ(real.Shape[0], gen));                                  // 1
        var (lossD, accReal, accFake, normD) = DiscriminatorStep(real, fake, null);         // 2
        var (lossG, normG) = GeneratorStep(fake, null);                                     // 3, 4
        return new GanStepStats(lossD, lossG, accReal, accFake, normD, normG);
    }
}
