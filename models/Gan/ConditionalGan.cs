// ConditionalGan — a class-conditional GAN on the DCGAN-S networks (Dcgan.cs): G draws the digit it is
// asked for, D judges (image, label) pairs.
//
//   Generator      G([z | onehot(y)])  (Mirza & Osindero 2014: the label joins the noise)
//   Discriminator  Projection (Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018):
//                      D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩
//                  φ = the DCGAN-S features (B, 6272), ψ its final Linear, embed a learned (K, 6272) table;
//                  the inner product is the log-ratio term of the paper's eq. (3) for a softmax class model.
//                  Concat (Mirza & Osindero): D([x | onehot(y) as K constant channels]).
//   Loss           non-saturating by default, or hinge (as Miyato & Koyama). Measured on MNIST (batch 64, Adam
//                  2e-4, seed 0): with hinge, D separated real from fake perfectly from step ~100 and G was still
//                  drawing checkerboard noise at step 500; the paper pairs hinge with spectral normalisation
//                  in D, which these BatchNorm networks do not have. With the non-saturating loss the same
//                  networks draw the requested digit by step 1,000 (examples/Gan/figures).
// One step (as Dcgan.cs, labels riding along): real (x, y); fake = G(z, y) for the same labels;
//   D step on (x, y) vs (fake.detach(), y); G step on D(fake, y); EMA.
//
//   var cgan = new ConditionalGan(new ConditionalGanConfig(NumClasses: 10), gen);
//   var sevens = cgan.Sample(cgan.SampleZ(8, gen), Tensor.FromArray(Enumerable.Repeat(7, 8).ToArray(), 8));
// Run: dotnet run -c Release --project examples/Gan -- --model cgan [--cgan-disc concat]
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Gan
using Denoise.NN;

namespace Denoise.Models.Gan;

public enum ConditioningKind { Projection, Concat }

public sealed record ConditionalGanConfig(int NumClasses = 10, ConditioningKind Discriminator = ConditioningKind.Projection,
                                          GanLoss Loss = GanLoss.NonSaturating, float Lr = 2e-4f, float Beta1 = 0.5f, float Beta2 = 0.999f,
                                          float EmaDecay = 0.999f, int ZDim = DcganGenerator.DefaultZDim);

/// <summary>The projection discriminator: the DCGAN-S discriminator plus a class embedding dotted with its features.</summary>
public sealed class ProjectionDiscriminator : Module
{
    readonly DcganDiscriminator net;
    readonly Embedding embed;

    public ProjectionDiscriminator(int numClasses, Generator? gen = null)
    {
        net = Add("net", new DcganDiscriminator(1, batchNorm: true, gen));
        embed = Add("embed", new Embedding(numClasses, DcganDiscriminator.FeatureDim, gen));
        // Embedding's N(0, 1) init dotted with 6,272 O(1) features gives logits of ±80 at step 0 and a
        // saturated D; start the projection near 0 (the paper's SN-constrained embedding is small too).
        using (Autograd.NoGrad()) embed.Weight.MulInPlace(0.01f);
    }

    /// <summary>x (B, 1, 28, 28), y (B) → logits (B, 1).</summary>
    public Tensor Forward(Tensor x, Tensor labels)
    {
        var phi = net.Features(x);                                                   // (B, 6272)
        var projection = (embed.Forward(labels) * phi).Sum(1, keepDim: true);        // (B, 1)
        return net.Head(phi) + projection;
    }
}

public sealed class ConditionalGan : Gan
{
    public ConditionalGanConfig Config { get; }
    readonly ProjectionDiscriminator? projection;

    public ConditionalGan(ConditionalGanConfig config, Generator? gen = null)
        : base(new DcganGenerator(config.ZDim, config.NumClasses, gen), MakeDiscriminator(config, gen),
               config.ZDim, config.NumClasses, config.Loss, config.Lr, config.Lr, config.Beta1, config.Beta2, config.EmaDecay)
    {
        if (config.NumClasses < 2) throw new ArgumentException($"ConditionalGan: NumClasses must be ≥ 2, got {config.NumClasses}.");
        if (config.Loss == GanLoss.Wasserstein) throw new ArgumentException("ConditionalGan: the Wasserstein loss needs a gradient penalty; use NonSaturating or Hinge.");
        Config = config;
        projection = D as ProjectionDiscriminator;
    }

    static Module MakeDiscriminator(ConditionalGanConfig c, Generator? gen) => c.Discriminator == ConditioningKind.Projection
        ? new ProjectionDiscriminator(c.NumClasses, gen)
        : new DcganDiscriminator(1 + c.NumClasses, batchNorm: true, gen);

    public override Tensor Generate(Tensor z, Tensor? labels) =>
        G.Forward(Tensor.Cat([z, Tensor.OneHot(Need(labels, "Generate"), NumClasses)], 1));       // (B, zDim + K)

    public override Tensor Discriminate(Tensor x, Tensor? labels)
    {
        var y = Need(labels, "Discriminate");
        if (projection != null) return projection.Forward(x, y);
        int B = x.Shape[0], K = NumClasses;
        var channels = Tensor.OneHot(y, K).Reshape(B, K, 1, 1).Expand(B, K, x.Shape[2], x.Shape[3]);
        return ((DcganDiscriminator)D).Forward(Tensor.Cat([x, channels], 1));                                            // (B, 1 + K, H, W)
    }

    public override GanStepStats TrainStep(Func<(Tensor Images, Tensor? Labels)> nextReal, Generator gen)
    {
        var (real, labels) = nextReal();
        var y = Need(labels, "TrainStep");
        var fake = Generate(SampleZ(real.Shape[0], gen), y);
        var (lossD, accReal, accFake, normD) = DiscriminatorStep(real, fake, y);
        var (lossG, normG) = GeneratorStep(fake, y);
        return new GanStepStats(lossD, lossG, accReal, accFake, normD, normG);
    }

    Tensor Need(Tensor? labels, string op) =>
        labels ?? throw new ArgumentException($"ConditionalGan.{op}: labels (B) are required (classes 0…{NumClasses - 1}).");
}
