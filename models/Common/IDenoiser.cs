// The one signature every sampler in models/Diffusion and models/FlowMatching calls: a network
// that maps a noisy batch, its time and (optionally) class labels to a prediction of the same
// shape as x (ε, x₀, v or a velocity — the method decides what the output means).
//
//   x       (B, …)   float          the noisy sample (images (B, C, H, W), points (B, 2))
//   t       (B)      float          the method's time: DDPM/DDIM pass the integer step 0…T−1
//                                   as a float, flow matching passes t ∈ [0, 1]
//   labels  (B)      Int32 or null  class ids; id = numClasses is the "null" label that
//                                   classifier-free guidance trains and samples with
//
// The UNet (models/Common/UNet.cs) and the 2-D MLP (models/Common/Mlp2D.cs) implement it;
// anything else can be wrapped with Denoiser.From(…). Run: see tests/Models/Diffusion*.cs.
namespace Denoise.Models.Common;

public interface IDenoiser
{
    Tensor Forward(Tensor x, Tensor t, Tensor? labels);
}

/// <summary>Wraps delegates as <see cref="IDenoiser"/> (toy networks in tests, time rescaling).</summary>
public static class Denoiser
{
    public static IDenoiser From(Func<Tensor, Tensor, Tensor?, Tensor> f) => new Fn(f);

    /// <summary>An unconditional network; passing labels to it is an error, not silently ignored.</summary>
    public static IDenoiser From(Func<Tensor, Tensor, Tensor> f) => new Fn((x, t, labels) =>
        labels is null ? f(x, t) : throw new ArgumentException($"Denoiser: this network is unconditional, but labels of shape {labels.ShapeStr} were passed."));

    sealed class Fn(Func<Tensor, Tensor, Tensor?, Tensor> f) : IDenoiser
    {
        public Tensor Forward(Tensor x, Tensor t, Tensor? labels) => f(x, t, labels);
    }
}
