// Likelihood — negative log-likelihoods of image models in nats and in bits per dimension (bpd),
// with uniform dequantisation of 8-bit data (Theis, van den Oord & Bethge, 2016, "A note on the
// evaluation of generative models", §3.1; the convention of RealNVP, Glow, PixelCNN, VDM).
//
// 8-bit images are discrete: x ∈ {0, …, 255}^D. A density model p works on continuous values, so
// it is trained and evaluated on dequantised data y = (x + u)/256 with u ~ U[0, 1)^D, y ∈ [0, 1)^D.
// Jensen's inequality makes the continuous likelihood a lower bound on the discrete one:
//   log P(x) = log ∫_{[0,1)^D} p_{x+u}(x + u) du ≥ E_u[log p_{x+u}(x + u)] = E_u[log p_y(y)] − D·log 256,
// because y = (x + u)/256 scales each of the D coordinates by 1/256 (p_{x+u} = p_y / 256^D). So with
// nll = −log p_y(y) in nats for data scaled to [0, 1] (the model's own NLL),
//   bits/dim = (nll + D·ln 256) / (D·ln 2)  ≥  −log₂ P(x) / D.
// Data scaled to a range of width w instead (w = 2 for [−1, 1]) has p_w = p_y / w^D, hence in general
//   bits/dim = (nll_w + D·ln(256 / w)) / (D·ln 2);   w = 2:  (nll + D·ln 128) / (D·ln 2).
// Sanity: the uniform density on [0, 1]^D has nll = 0 → 8 bits/dim, exactly what storing raw bytes costs.
// Variational models (VAE) report the negative ELBO as nll: their bpd is an upper bound, like the
// dequantisation bound above. Diffusion models' variational bounds (Ho et al., 2020, §3.3) end in a
// discretised decoder that gives −ln P(x) of the bytes directly, with no dequantisation term:
// convert those with BitsPerDimDiscrete, nll / (D·ln 2).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.Likelihood
namespace Denoise.Metrics;

public static class Likelihood
{
    /// <summary>
    /// Bits per dimension of a continuous NLL (nats, per example, summed over its
    /// <paramref name="dims"/> dimensions) of uniformly dequantised 8-bit data scaled to a range of
    /// width <paramref name="dataRange"/> (1 for [0, 1], 2 for [−1, 1]): (nll + D·ln(256/w)) / (D·ln 2).
    /// </summary>
    public static double BitsPerDim(double nllNats, int dims, double dataRange = 1.0, int bits = 8)
    {
        Check(dims, dataRange, bits);
        return (nllNats + dims * Math.Log(Math.Pow(2, bits) / dataRange)) / (dims * Math.Log(2));
    }

    /// <summary>The inverse of <see cref="BitsPerDim"/>: the continuous NLL in nats for a given bits/dim.</summary>
    public static double NatsFromBitsPerDim(double bitsPerDim, int dims, double dataRange = 1.0, int bits = 8)
    {
        Check(dims, dataRange, bits);
        return bitsPerDim * dims * Math.Log(2) - dims * Math.Log(Math.Pow(2, bits) / dataRange);
    }

    /// <summary>Bits per dimension of a discrete NLL (−ln P(x), nats; no dequantisation): nll / (D·ln 2).</summary>
    public static double BitsPerDimDiscrete(double nllNats, int dims)
    {
        Check(dims, 1, 8);
        return nllNats / (dims * Math.Log(2));
    }

    /// <summary>
    /// Uniform dequantisation of images stored as byte/255 in [0, 1]: y = (round(255·x) + u)/256,
    /// u ~ U[0, 1), a fresh continuous point in the byte's bin, in [0, 1). Not differentiable (data only).
    /// </summary>
    public static Tensor Dequantize(Tensor images01, Generator gen)
    {
        images01.CheckFloat("Likelihood.Dequantize");
        using var noGrad = Autograd.NoGrad();
        var bytes = (images01.Clamp(0f, 1f) * 255f + 0.5f).ToArray();
        var u = Tensor.Rand(images01.Shape.ToArray(), gen).ToArray();
        // float rounding can carry 255 + 0.99999994 up to 256/256 = 1; keep y inside the byte's bin.
        for (int i = 0; i < bytes.Length; i++) bytes[i] = MathF.Min((MathF.Floor(bytes[i]) + u[i]) / 256f, MathF.BitDecrement((MathF.Floor(bytes[i]) + 1) / 256f));
        return Tensor.FromArray(bytes, images01.Shape.ToArray());
    }

    static void Check(int dims, double dataRange, int bits)
    {
        if (dims < 1) throw new ArgumentException($"Likelihood: dims must be ≥ 1, got {dims}.");
        if (!(dataRange > 0)) throw new ArgumentException($"Likelihood: dataRange must be > 0, got {dataRange}.");
        if (bits is < 1 or > 32) throw new ArgumentException($"Likelihood: bits must be in 1…32, got {bits}.");
    }
}
