// Vae — the variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014),
// with the β-VAE weight on the KL term (Higgins et al., ICLR 2017), the conditional VAE (Sohn et al.,
// NeurIPS 2015: label y one-hot-concatenated to the encoder's input and the decoder's z), and the
// importance-weighted bound (Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016).
//
// Model:    p(z) = N(0, I),  p_θ(x | z[, y]) = Bernoulli(sigmoid(dec(z)))  or  N(sigmoid(dec(z)), s²I)
// Encoder:  q_φ(z | x[, y]) = N(μ, diag σ²),  (μ, log σ²) = enc(x)  split in halves
// ELBO (per image, in nats):
//     L(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)),   KL = ½ Σ_j (σ_j² + μ_j² − log σ_j² − 1)   (appendix B)
// Algorithm (one training step):
//     1. (μ, log σ²) = enc(x);  ε ~ N(0, I);  z = μ + σ·ε          (reparameterisation: z is differentiable in φ)
//     2. log p(x|z) from the decoder logits                         (one sample per image)
//     3. loss = mean_b [ −log p(x_b|z_b) + β·KL_b ]                 (β = 1: the VAE; β > 1: β-VAE)
// IWAE estimate of log p(x) with k samples z_i ~ q(z|x):
//     log p(x) ≳ log (1/k) Σ_i w_i,  log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)
// computed with logsumexp (the w_i themselves under- or overflow float for 784 pixels). It is a lower
// bound that tightens as k grows and equals the single-sample ELBO estimate log w_1 for k = 1.
// The ELBO reported uses the analytic KL (lower variance); its one-sample Monte Carlo twin is
// ElboTerms.LogWeight, which has the same expectation.
//
// Bernoulli on grey-level MNIST in [0, 1] (not binarised) is the common "continuous Bernoulli"
// shortcut: the BCE is still a fine training loss but the numbers are not a normalised likelihood of
// the grey values; binarise the data for likelihoods comparable to the literature. The Gaussian
// decoder's nats are a density, so they depend on s and can be negative.
//
//   var vae = new Vae(new VaeConfig(LatentDim: 16), gen);
//   var loss = vae.Loss(x, labels: null, gen);                    // training
//   Tensor elbo = vae.Terms(x, null, gen).Elbo;                   // (B) nats per image
//   Tensor nll = -vae.ImportanceWeightedLogLikelihood(x, null, k: 100, gen);
// Run: dotnet run -c Release --project examples/Vae -- --model vae|beta-vae|cvae
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Vae
using Denoise.NN;

namespace Denoise.Models.Autoencoders;

public enum Likelihood { Bernoulli, Gaussian }

/// <param name="LatentDim">Size of z.</param>
/// <param name="Beta">Weight of the KL term in the loss (1: VAE; &gt; 1: β-VAE). Reported ELBOs always use 1.</param>
/// <param name="NumClasses">0: unconditional; K &gt; 0: a conditional VAE on labels 0…K−1.</param>
/// <param name="DecoderStd">s of the Gaussian likelihood (unused for Bernoulli).</param>
/// <param name="Width">Channels of the first conv of ConvNets.cs.</param>
public sealed record VaeConfig(int LatentDim = 16, Likelihood Likelihood = Likelihood.Bernoulli, float Beta = 1f,
                               int NumClasses = 0, float DecoderStd = 0.1f, int Width = 32);

/// <summary>Per-image terms (each (B), nats): log p(x|z), the analytic KL, and the one-sample log weight.</summary>
public sealed record ElboTerms(Tensor LogLikelihood, Tensor Kl, Tensor LogWeight)
{
    /// <summary>L(x) = log p(x|z) − KL(q ‖ p), one z per image.</summary>
    public Tensor Elbo => LogLikelihood - Kl;
}

public sealed class Vae : Module
{
    static readonly float Log2Pi = MathF.Log(2f * MathF.PI);

    public VaeConfig Config { get; }
    public Layer Encoder { get; }
    public Layer Decoder { get; }
    public bool IsConditional => Config.NumClasses > 0;

    /// <summary>The ConvNets.cs encoder/decoder for (B, 1, 28, 28) images.</summary>
    public Vae(VaeConfig config, Generator? gen = null)
        : this(config,
               new ConvEncoder(1 + config.NumClasses, 2 * config.LatentDim, config.Width, gen),
               new ConvDecoder(config.LatentDim + config.NumClasses, 1, config.Width, gen)) { }

    /// <param name="encoder">[x | onehot(y)] → (B, 2·LatentDim) = [μ | log σ²]. For images the one-hot
    /// arrives as K extra constant channels, for flat inputs as K extra features.</param>
    /// <param name="decoder">[z | onehot(y)] (B, LatentDim + K) → logits shaped like x.</param>
    public Vae(VaeConfig config, Layer encoder, Layer decoder)
    {
        if (config.LatentDim < 1) throw new ArgumentException($"Vae: LatentDim must be ≥ 1, got {config.LatentDim}.");
        if (config.Beta < 0) throw new ArgumentException($"Vae: Beta must be ≥ 0, got {config.Beta}.");
        if (config.NumClasses < 0) throw new ArgumentException($"Vae: NumClasses must be ≥ 0, got {config.NumClasses}.");
        if (config.Likelihood == Likelihood.Gaussian && !(config.DecoderStd > 0))
            throw new ArgumentException($"Vae: DecoderStd must be > 0, got {config.DecoderStd}.");
        Config = config;
        Encoder = Add("encoder", encoder);
        Decoder = Add("decoder", decoder);
    }

    // ───────────────────── the two networks, conditioned ─────────────────────

    /// <summary>(μ, log σ²), each (B, LatentDim), of q(z | x[, y]).</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels = null)
    {
        var h = Encoder.Forward(WithLabels(x, labels, "Encode"));   // (B, 2L)
        int L = Config.LatentDim;
        if (h.Rank != 2 || h.Shape[1] != 2 * L)
            throw new InvalidOperationException($"Vae.Encode: the encoder returned {h.ShapeStr}; expected (B, {2 * L}) = [μ | log σ²].");
        return (h.Narrow(1, 0, L), h.Narrow(1, L, L));
    }

    /// <summary>Decoder logits for z (B, LatentDim); the image mean is sigmoid(logits) for both likelihoods.</summary>
    public Tensor Decode(Tensor z, Tensor? labels = null) => Decoder.Forward(WithLabels(z, labels, "Decode"));

    /// <summary>E[x | z]: sigmoid of the logits, in [0, 1].</summary>
    public Tensor DecodeMean(Tensor z, Tensor? labels = null) => Decode(z, labels).Sigmoid();

    /// <summary>z = μ + σ·ε with σ = exp(½ log σ²).</summary>
    public static Tensor Reparameterize(Tensor mu, Tensor logVar, Tensor eps) => mu + (logVar * 0.5f).Exp() * eps;

    /// <summary>log p(x | z) per image (B), summed over every non-batch dimension.</summary>
    public Tensor LogLikelihood(Tensor logits, Tensor x)
    {
        int B = x.Shape[0];
        if (Config.Likelihood == Likelihood.Bernoulli)
            return -F.BinaryCrossEntropyWithLogits(logits, x, reduction: Reduction.None).Reshape(B, -1).Sum(1);
        float s = Config.DecoderStd;
        var diff = logits.Sigmoid() - x;
        return -(diff * diff * (0.5f / (s * s)) + (0.5f * Log2Pi + MathF.Log(s))).Reshape(B, -1).Sum(1);
    }

    // ───────────────────── the ELBO and the loss ─────────────────────

    /// <summary>ELBO terms with the given noise ε (B, LatentDim) — fixed ε makes the value deterministic.</summary>
    public ElboTerms Terms(Tensor x, Tensor? labels, Tensor eps)
    {
        var (mu, logVar) = Encode(x, labels);
        var z = Reparameterize(mu, logVar, eps);                               // step 1
        var logPxz = LogLikelihood(Decode(z, labels), x);                      // step 2
        var kl = F.KlDivGaussians(mu, logVar, reduction: Reduction.None).Sum(1);
        // log p(z) − log q(z|x): (z − μ)/σ = ε, so log q = −½ Σ (ε² + log σ² + log 2π).
        var logPz = -(z * z + Log2Pi).Sum(1) * 0.5f;
        var logQz = -(eps * eps + logVar + Log2Pi).Sum(1) * 0.5f;
        return new ElboTerms(logPxz, kl, logPxz + logPz - logQz);
    }

    /// <summary>ELBO terms with ε ~ N(0, I) drawn from <paramref name="gen"/>.</summary>
    public ElboTerms Terms(Tensor x, Tensor? labels, Generator? gen) =>
        Terms(x, labels, Tensor.Randn([x.Shape[0], Config.LatentDim], gen, x.Device));

    /// <summary>The training loss (step 3): mean over the batch of −log p(x|z) + β·KL, nats per image.</summary>
    public Tensor Loss(Tensor x, Tensor? labels, Generator? gen)
    {
        var t = Terms(x, labels, gen);
        return (t.Kl * Config.Beta - t.LogLikelihood).Mean();
    }

    // ───────────────────── importance weighting (IWAE) ─────────────────────

    /// <summary>
    /// log p(x) ≥ logsumexp_i(log w_i) − log k per image (B), with the k noise draws given as ε (k, B, LatentDim).
    /// The encoder runs once; the decoder once per sample.
    /// </summary>
    public Tensor ImportanceWeightedLogLikelihood(Tensor x, Tensor? labels, Tensor eps)
    {
        int k = eps.Shape[0];
        var (mu, logVar) = Encode(x, labels);
        var logW = new Tensor[k];
        for (int i = 0; i < k; i++)
        {
            var e = eps.Select(0, i);                                          // (B, L)
            var z = Reparameterize(mu, logVar, e);
            var logPz = -(z * z + Log2Pi).Sum(1) * 0.5f;
            var logQz = -(e * e + logVar + Log2Pi).Sum(1) * 0.5f;
            logW[i] = LogLikelihood(Decode(z, labels), x) + logPz - logQz;     // (B)
        }
        return Tensor.Stack(logW, 0).LogSumExp(0) - MathF.Log(k);              // (k, B) → (B)
    }

    public Tensor ImportanceWeightedLogLikelihood(Tensor x, Tensor? labels, int k, Generator? gen) =>
        ImportanceWeightedLogLikelihood(x, labels, Tensor.Randn([k, x.Shape[0], Config.LatentDim], gen, x.Device));

    // ───────────────────── generation ─────────────────────

    /// <summary>n images E[x | z], z ~ N(0, I) (labels (n) for a conditional VAE).</summary>
    public Tensor Sample(int n, Generator? gen, Tensor? labels = null)
    {
        using var _ = Autograd.NoGrad();
        var device = Parameters().First().Device;   // z on the model's device
        return DecodeMean(Tensor.Randn([n, Config.LatentDim], gen, device), labels?.To(device));
    }

    /// <summary>E[x | z = μ(x)]: the reconstruction through the posterior mean.</summary>
    public Tensor Reconstruct(Tensor x, Tensor? labels = null)
    {
        using var _ = Autograd.NoGrad();
        return DecodeMean(Encode(x, labels).Mu, labels);
    }

    /// <summary>[input | onehot(y)]: K constant channels for images (B, C, H, W), K features for (B, D).</summary>
    Tensor WithLabels(Tensor input, Tensor? labels, string op)
    {
        int K = Config.NumClasses;
        if (K == 0)
        {
            if (labels != null) throw new ArgumentException($"Vae.{op}: labels given to an unconditional VAE (NumClasses = 0).");
            return input;
        }
        if (labels == null) throw new ArgumentException($"Vae.{op}: a conditional VAE (NumClasses = {K}) needs labels (B) for input {input.ShapeStr}.");
        if (labels.Rank != 1 || labels.Shape[0] != input.Shape[0])
            throw new ArgumentException($"Vae.{op}: labels of shape {labels.ShapeStr} must be ({input.Shape[0]}) to match input {input.ShapeStr}.");
        var oneHot = Tensor.OneHot(labels, K);                                  // (B, K)
        if (input.Rank == 2) return Tensor.Cat([input, oneHot], 1);
        if (input.Rank != 4) throw new ArgumentException($"Vae.{op}: input {input.ShapeStr} must be (B, D) or (B, C, H, W) to carry labels.");
        int B = input.Shape[0], H = input.Shape[2], W = input.Shape[3];
        return Tensor.Cat([input, oneHot.Reshape(B, K, 1, 1).Expand(B, K, H, W)], 1);   // (B, C + K, H, W)
    }
}
