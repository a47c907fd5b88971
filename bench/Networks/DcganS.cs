// DCGAN-S of shared/bench/WORKLOADS.md M4 (28×28×1), after Radford et al. 2015 scaled down:
//   Generator      z (B, 64) → Linear(64→128·7·7), BatchNorm1d(6272), ReLU → (B, 128, 7, 7)
//                  → ConvTranspose 4×4 s2 p1 (128→64), BatchNorm2d, ReLU → ConvTranspose 4×4 s2 p1 (64→1), Tanh
//   Discriminator  x (B, 1, 28, 28) → Conv 4×4 s2 p1 (1→64), LeakyReLU(0.2) → Conv 4×4 s2 p1 (64→128),
//                  BatchNorm2d, LeakyReLU(0.2) → Flatten → Linear(128·7·7→1) (a logit)
// 552,513 + 138,817 = 691,330 parameters, as PyTorch counts them. Only the benchmark uses these
// (models/ will hold the GAN family proper). Run: dotnet run -c Release --project bench -- workloads --only M4
using Denoise.NN;

namespace Denoise.Bench.Networks;

public sealed class DcganGenerator : Layer
{
    public const int ZDim = 64;
    readonly Sequential fc, deconv;

    public DcganGenerator(Generator? gen = null)
    {
        fc = Add("fc", new Sequential(new Linear(ZDim, 128 * 7 * 7, gen: gen), new BatchNorm1d(128 * 7 * 7), new ReLU()));
        deconv = Add("deconv", new Sequential(
            new ConvTranspose2d(128, 64, 4, stride: 2, padding: 1, gen: gen), new BatchNorm2d(64), new ReLU(),
            new ConvTranspose2d(64, 1, 4, stride: 2, padding: 1, gen: gen), new Tanh()));
    }

    /// <summary>z (B, 64) → images (B, 1, 28, 28) in (−1, 1).</summary>
    public override Tensor Forward(Tensor z) => deconv.Forward(fc.Forward(z).Reshape(-1, 128, 7, 7)); // (B, 6272) → (B, 128, 7, 7)
}

public sealed class DcganDiscriminator : Layer
{
    readonly Sequential net;

    public DcganDiscriminator(Generator? gen = null)
    {
        net = Add("net", new Sequential(
            new Conv2d(1, 64, 4, stride: 2, padding: 1, gen: gen), new LeakyReLU(0.2f),       // 28 → 14
            new Conv2d(64, 128, 4, stride: 2, padding: 1, gen: gen), new BatchNorm2d(128), new LeakyReLU(0.2f), // 14 → 7
            new Flatten(),
            new Linear(128 * 7 * 7, 1, gen: gen)));
    }

    /// <summary>x (B, 1, 28, 28) → logits (B, 1).</summary>
    public override Tensor Forward(Tensor x) => net.Forward(x);
}
