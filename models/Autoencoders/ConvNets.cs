// ConvNets — the small convolutional encoder and decoder the autoencoder family shares (ConvAutoencoder,
// Vae, β-VAE, conditional VAE), for 28×28 images. The shapes follow DCGAN's pattern (Radford et al.
// 2015): stride-2 4×4 convolutions halve the side, transposed ones double it.
//
//   ConvEncoder  x (B, Cin, 28, 28) → Conv 4×4 s2 p1 (Cin→W), ReLU → (B, W, 14, 14)
//                → Conv 4×4 s2 p1 (W→2W), ReLU → (B, 2W, 7, 7) → Flatten → Linear(2W·49 → Out)
//   ConvDecoder  z (B, In) → Linear(In → 2W·49), ReLU → (B, 2W, 7, 7)
//                → ConvTranspose 4×4 s2 p1 (2W→W), ReLU → (B, W, 14, 14) → ConvTranspose 4×4 s2 p1 (W→Cout)
//                → (B, Cout, 28, 28) logits (no output activation: the likelihood decides what they mean)
// Cin > 1 and In > latent carry a conditional VAE's one-hot label (Vae.cs concatenates it).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Vae
using Denoise.NN;

namespace Denoise.Models.Autoencoders;

public sealed class ConvEncoder : Layer
{
    readonly Sequential net;

    /// <param name="width">W, channels of the first convolution (the second has 2W).</param>
    public ConvEncoder(int inChannels, int outFeatures, int width = 32, Generator? gen = null)
    {
        net = Add("net", new Sequential(
            new Conv2d(inChannels, width, 4, stride: 2, padding: 1, gen: gen), new ReLU(),        // 28 → 14
            new Conv2d(width, 2 * width, 4, stride: 2, padding: 1, gen: gen), new ReLU(),         // 14 → 7
            new Flatten(),                                                                         // (B, 2W·49)
            new Linear(2 * width * 49, outFeatures, gen: gen)));
    }

    public override Tensor Forward(Tensor x) => net.Forward(x);
}

public sealed class ConvDecoder : Layer
{
    readonly Sequential fc, deconv;
    readonly int width;

    public ConvDecoder(int inFeatures, int outChannels, int width = 32, Generator? gen = null)
    {
        this.width = width;
        fc = Add("fc", new Sequential(new Linear(inFeatures, 2 * width * 49, gen: gen), new ReLU()));
        deconv = Add("deconv", new Sequential(
            new ConvTranspose2d(2 * width, width, 4, stride: 2, padding: 1, gen: gen), new ReLU(),  // 7 → 14
            new ConvTranspose2d(width, outChannels, 4, stride: 2, padding: 1, gen: gen)));          // 14 → 28
    }

    /// <summary>z (B, In) → logits (B, Cout, 28, 28).</summary>
    public override Tensor Forward(Tensor z) => deconv.Forward(fc.Forward(z).Reshape(-1, 2 * width, 7, 7)); // (B, 2W·49) → (B, 2W, 7, 7)
}
