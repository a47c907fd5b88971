// DDPM: denoising diffusion probabilistic models — training and ancestral sampling.
//
// Paper: Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020).
//   Algorithm 1 (training)                        Algorithm 2 (sampling)
//   repeat                                        x_T ~ N(0, I)
//     x₀ ~ q(x₀), t ~ U{1…T}, ε ~ N(0, I)          for t = T … 1:
//     step on ∇‖ε − ε_θ(√ᾱ_t·x₀ + √(1−ᾱ_t)·ε, t)‖²    z ~ N(0, I) if t > 1 else 0
//                                                    x_{t−1} = (x_t − β_t/√(1−ᾱ_t)·ε_θ(x_t, t))/√α_t + σ_t·z
// (array indices here run t = 0 … T−1; the network sees that integer as a float).
//
// Beyond the paper, each a switch in DdpmConfig:
//   • x₀- and v-prediction (Salimans & Ho 2022): the loss regresses that target instead of ε, and
//     sampling converts the output back to ε (NoiseSchedule.ToEpsX0), so Algorithm 2 is unchanged.
//   • clipping x̂₀ to the data range before the step (what Ho et al.'s released code does); ε is then
//     recomputed from the clipped x̂₀, which makes line 4 exactly the posterior mean μ̃(x_t, x̂₀).
//   • classifier-free guidance (Ho & Salimans 2022; models/Common/ClassifierFreeGuidance.cs).
//   • inpainting, RePaint-style without resampling (Lugmayr et al., "RePaint", CVPR 2022): after each
//     step the known pixels are overwritten with the known image noised to the new step.
//   • EMA weights (Ho et al. §4 sample with an EMA of the parameters): pass an Ema and sampling runs
//     inside `using (ema.Apply())`.
// DDIM (Ddim.cs) samples the same trained model in fewer steps.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~Diffusion";
//      dotnet run -c Release --project examples/Diffusion -- --method ddpm
using Denoise.Models.Common;
using Denoise.Optim;

namespace Denoise.Models.Diffusion;

/// <param name="Timesteps">T, the number of noise levels (DDPM: 1000).</param>
/// <param name="Schedule">β schedule: Linear (Ho et al.: 1e-4 → 0.02) or Cosine (Nichol & Dhariwal 2021).</param>
/// <param name="Prediction">What the network outputs: Epsilon (DDPM), X0, or V (Salimans & Ho 2022).</param>
/// <param name="NumClasses">0: unconditional. Otherwise labels 0…NumClasses−1; id NumClasses is the null label.</param>
/// <param name="LabelDropout">p_uncond of classifier-free guidance: probability a training label becomes null (Ho & Salimans: 0.1–0.2).</param>
/// <param name="ClipX0">Clamp the predicted x̂₀ to ±ClipX0 while sampling (1 for images scaled to [−1, 1]); null = Algorithm 2 exactly.</param>
/// <param name="PosteriorVariance">σ_t² = β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t) instead of β_t; Ho et al. §3.2 found both similar.</param>
public sealed record DdpmConfig(
    int Timesteps = 1000,
    ScheduleKind Schedule = ScheduleKind.Linear,
    Prediction Prediction = Prediction.Epsilon,
    int NumClasses = 0,
    float LabelDropout = 0.1f,
    float? ClipX0 = null,
    bool PosteriorVariance = false);

public sealed class Ddpm
{
    public IDenoiser Network { get; }
    public DdpmConfig Config { get; }
    public NoiseSchedule Schedule { get; }
    /// <summary>If set, sampling uses these averaged weights (applied, then restored).</summary>
    public Ema? Ema { get; set; }

    public Ddpm(IDenoiser network, DdpmConfig? config = null, Ema? ema = null)
    {
        Network = network;
        Config = config ?? new DdpmConfig();
        Schedule = NoiseSchedule.Create(Config.Schedule, Config.Timesteps);
        Ema = ema;
    }

    /// <summary>
    /// Where Sample draws x_T and its noise: the network's device (set it after moving the network, e.g.
    /// `net.To(device); ddpm.Device = device;`). Training follows the batch's device by itself.
    /// </summary>
    public Device Device { get; set; } = Device.Cpu;

    /// <summary>The null label (classifier-free guidance's ∅).</summary>
    public int NullLabel => Config.NumClasses;

    // ───────────────────── Algorithm 1: training ─────────────────────

    /// <summary>‖target − net(x_t, t, c)‖² for a batch x₀ (B, …) with labels (B) or null.</summary>
    public Tensor Loss(Tensor x0, Generator gen, Tensor? labels = null)
    {
        int B = x0.Shape[0];
        var t = Tensor.Randint(0, Schedule.T, [B], gen);                            // t ~ U{0 … T−1}
        var noise = Tensor.RandnLike(x0, gen);                                      // ε ~ N(0, I)
        var xt = Schedule.AddNoise(x0, noise, t);                                   // √ᾱ_t·x₀ + √(1−ᾱ_t)·ε
        labels = ClassifierFreeGuidance.DropLabels(labels, Config.LabelDropout, NullLabel, gen);
        var output = Network.Forward(xt, ToFloat(t, x0.Device), labels);
        var target = Schedule.Target(Config.Prediction, x0, noise, t);              // ε, x₀ or v
        return (output - target).Square().Mean();
    }

    // ───────────────────── Algorithm 2: ancestral sampling ─────────────────────

    /// <summary>Draws x_T ~ N(0, I) of <paramref name="shape"/> and runs all T reverse steps.</summary>
    /// <param name="labels">Class ids (B) for a conditional model, or null.</param>
    /// <param name="guidance">Classifier-free guidance scale w (1 = plain conditional; 0 = unconditional).</param>
    /// <param name="onStep">Called after each step with (steps done, x) — trajectories and progress.</param>
    /// <param name="known">Inpainting: an image of <paramref name="shape"/> whose pixels where <paramref name="mask"/> = 1 are kept.</param>
    /// <param name="mask">Inpainting: 1 = known pixel, 0 = generate; broadcasts against <paramref name="shape"/>.</param>
    public Tensor Sample(int[] shape, Generator gen, Tensor? labels = null, float guidance = 1f,
        Action<int, Tensor>? onStep = null, Tensor? known = null, Tensor? mask = null)
    {
        if ((known == null) != (mask == null)) throw new ArgumentException("Ddpm.Sample: inpainting needs both the known image and its mask.");
        using var noGrad = Autograd.NoGrad();
        using var emaWeights = Ema?.Apply();
        var x = Tensor.Randn(shape, gen, Device);                                   // x_T ~ N(0, I), on the network's device
        for (int t = Schedule.T - 1; t >= 0; t--)
        {
            using var scope = TensorScope.Begin();                                 // this step's temporaries go back to the pool
            var (eps, _) = PredictEpsX0(x, t, labels, guidance);
            double alpha = Schedule.Alphas[t], beta = Schedule.Betas[t], alphaBar = Schedule.AlphaBar(t);
            var mean = (x - (float)(beta / Math.Sqrt(1 - alphaBar)) * eps) * (float)(1 / Math.Sqrt(alpha));
            var next = t > 0 ? mean + (float)Sigma(t) * Tensor.RandnLike(x, gen) : mean;   // z = 0 at the last step
            if (known != null)                                                      // RePaint: known pixels from q(x_{t−1} | x₀)
            {
                var knownNoised = t > 0 ? Schedule.AddNoise(known, Tensor.RandnLike(known, gen), NoiseSchedule.Steps(shape[0], t - 1)) : known;
                next = Tensor.Where(mask!, knownNoised, next);
            }
            x = scope.Keep(next);
            onStep?.Invoke(Schedule.T - t, x);
        }
        return x;
    }

    /// <summary>Fills the pixels where <paramref name="mask"/> = 0 so they agree with the known ones (RePaint without resampling).</summary>
    public Tensor Inpaint(Tensor known, Tensor mask, Generator gen, Tensor? labels = null, float guidance = 1f) =>
        Sample(known.Shape.ToArray(), gen, labels, guidance, null, known, mask);

    /// <summary>σ_t: √β_t (Algorithm 2) or √β̃_t (the true posterior's standard deviation).</summary>
    double Sigma(int t) => Config.PosteriorVariance
        ? Math.Sqrt(Schedule.Betas[t] * (1 - Schedule.AlphaBar(t - 1)) / (1 - Schedule.AlphaBar(t)))
        : Math.Sqrt(Schedule.Betas[t]);

    // ───────────────────── the network's prediction, shared with DDIM ─────────────────────

    /// <summary>(ε̂, x̂₀) at x_t for every sample at step t: guided output → ε/x₀ → optional clip of x̂₀
    /// (then ε̂ recomputed from the clipped x̂₀ so the two stay consistent).</summary>
    public (Tensor Eps, Tensor X0) PredictEpsX0(Tensor xt, int t, Tensor? labels, float guidance)
    {
        int B = xt.Shape[0];
        var steps = NoiseSchedule.Steps(B, t);
        var output = ClassifierFreeGuidance.Predict(Network, xt, ToFloat(steps, xt.Device), labels, guidance, NullLabel);
        var (eps, x0) = Schedule.ToEpsX0(Config.Prediction, output, xt, steps);
        if (Config.ClipX0 is float c)
        {
            x0 = x0.Clamp(-c, c);
            double ab = Schedule.AlphaBar(t);
            eps = (xt - (float)Math.Sqrt(ab) * x0) * (float)(1 / Math.Sqrt(1 - ab));
        }
        return (eps, x0);
    }

    /// <summary>Int32 steps (B) → the float times the network reads.</summary>
    static Tensor ToFloat(Tensor steps, Device device) => Tensor.FromArray(steps.ToIntArray().Select(s => (float)s).ToArray(), steps.Shape[0]).To(device);
}
