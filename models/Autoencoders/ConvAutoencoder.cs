// ConvAutoencoder — a deterministic autoencoder x → code → x̂ (Hinton & Salakhutdinov 2006, with
// convolutions), optionally denoising (Vincent et al. 2008): the encoder sees a corrupted x̃ and the
// loss asks for the clean x, so the code must capture structure rather than copy pixels.
//
//   Loss(x):  x̃ = clamp(x + σ·n, 0, 1), n ~ N(0, I)        (x̃ = x when NoiseStd = 0)
//             x̂ = sigmoid(dec(enc(x̃)))
//             L = (1/B) Σ_b Σ_pixels BCE(x̂, x)               nats per image, as the VAE's reconstruction term
// Images are in [0, 1] (MNIST as Mnist.Load gives it). The networks are ConvNets.cs; pass others in.
//
//   var ae = new ConvAutoencoder(new AutoencoderConfig(CodeDim: 16, NoiseStd: 0.3f), gen);
//   var loss = ae.Loss(x, gen);  …  var xhat = ae.Reconstruct(x);
// Run: dotnet run -c Release --project examples/Vae -- --model ae [--noise 0.3]
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Vae
using Denoise.NN;

namespace Denoise.Models.Autoencoders;

/// <param name="CodeDim">Size of the bottleneck.</param>
/// <param name="NoiseStd">σ of the Gaussian corruption in training; 0 = a plain autoencoder.</param>
/// <param name="Width">Channels of the first conv (ConvNets.cs).</param>
public sealed record AutoencoderConfig(int CodeDim = 16, float NoiseStd = 0f, int Width = 32);

public sealed class ConvAutoencoder : Module
{
    public AutoencoderConfig Config { get; }
    public Layer Encoder { get; }
    public Layer Decoder { get; }

    public ConvAutoencoder(AutoencoderConfig config, Generator? gen = null)
        : this(config, new ConvEncoder(1, config.CodeDim, config.Width, gen), new ConvDecoder(config.CodeDim, 1, config.Width, gen)) { }

    /// <param name="encoder">x (B, …) → code (B, CodeDim).</param>
    /// <param name="decoder">code (B, CodeDim) → logits shaped like x.</param>
    public ConvAutoencoder(AutoencoderConfig config, Layer encoder, Layer decoder)
    {
        if (config.NoiseStd < 0) throw new ArgumentException($"ConvAutoencoder: NoiseStd must be ≥ 0, got {config.NoiseStd}.");
        Config = config;
        Encoder = Add("encoder", encoder);
        Decoder = Add("decoder", decoder);
    }

    /// <summary>The training corruption x̃ = clamp(x + σ·n, 0, 1); x itself when σ = 0.</summary>
    public Tensor Corrupt(Tensor x, Generator? gen) =>
        Config.NoiseStd == 0f ? x : (x + Tensor.RandnLike(x, gen) * Config.NoiseStd).Clamp(0f, 1f);

    /// <summary>Reconstruction loss in nats per image (summed BCE over pixels, mean over the batch).</summary>
    public Tensor Loss(Tensor x, Generator? gen = null)
    {
        var logits = Decoder.Forward(Encoder.Forward(Corrupt(x, gen)));
        return F.BinaryCrossEntropyWithLogits(logits, x, reduction: Reduction.Sum) / x.Shape[0];
    }

    public Tensor Encode(Tensor x) => Encoder.Forward(x);

    /// <summary>x̂ = sigmoid(dec(enc(x))) in [0, 1]; pass a corrupted x to see the denoising.</summary>
    public Tensor Reconstruct(Tensor x) => Decoder.Forward(Encoder.Forward(x)).Sigmoid();

    /// <summary>Per-image reconstruction error Σ BCE (B), the autoencoder's anomaly score.</summary>
    public Tensor ReconstructionError(Tensor x)
    {
        var logits = Decoder.Forward(Encoder.Forward(x));
        return F.BinaryCrossEntropyWithLogits(logits, x, reduction: Reduction.None).Reshape(x.Shape[0], -1).Sum(1);
    }
}
