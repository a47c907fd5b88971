// DDIM: denoising diffusion implicit models — sampling a trained DDPM in a few steps.
//
// Paper: Song, Meng & Ermon, "Denoising Diffusion Implicit Models" (ICLR 2021). The training objective
// is DDPM's (Ddpm.Loss, Algorithm 1); only the sampler changes. Over a subsequence τ_S > … > τ_1 of
// the T steps (§4.2), each step predicts x̂₀ and jumps straight to the previous level (their eq. 12):
//
//   x̂₀     = (x_t − √(1−ᾱ_t)·ε_θ(x_t, t)) / √ᾱ_t
//   σ_t    = η·√((1−ᾱ_{t'})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'})                    t' = the next (smaller) step
//   x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σ_t²)·ε_θ + σ_t·z,   z ~ N(0, I)   (ᾱ_{t'} = 1 after the last step)
//
// η = 0 is deterministic — x_T fixes the sample, an ODE-like map from noise to data — which is what
// makes interpolation through the noise meaningful (§5.3: slerp between two x_T, then decode). η = 1
// with all T steps is DDPM's ancestral sampler with σ² = β̃.
//
// The subsequence is "trailing" (Lin et al., "Common Diffusion Noise Schedules and Sample Steps are
// Flawed", 2024, table 2): τ_i = ⌊i·T/S⌋ − 1 for i = 1 … S, so sampling always starts at the last,
// pure-noise step T−1, however few steps are taken; with S = T it is every step.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionDdim"
using Denoise.Models.Common;

namespace Denoise.Models.Diffusion;

/// <param name="Steps">S, network evaluations per sample (Song et al. report good samples at 20–100 of T = 1000).</param>
/// <param name="Eta">η: 0 = deterministic DDIM; 1 = DDPM-like stochastic steps.</param>
public sealed record DdimConfig(int Steps = 50, float Eta = 0f);

public sealed class Ddim
{
    /// <summary>The trained model: network, schedule, prediction type, guidance's null label, EMA.</summary>
    public Ddpm Model { get; }
    public DdimConfig Config { get; }
    /// <summary>τ in sampling order (descending), e.g. 999, 979, … 19 for T = 1000, S = 50.</summary>
    public int[] Timesteps { get; }

    public Ddim(Ddpm model, DdimConfig? config = null)
    {
        Model = model;
        Config = config ?? new DdimConfig();
        int T = model.Schedule.T, S = Config.Steps;
        if (S < 1 || S > T) throw new ArgumentException($"Ddim: Steps must be in 1 … T = {T}, got {S}.");
        if (Config.Eta < 0) throw new ArgumentException($"Ddim: η must be ≥ 0, got {Config.Eta}.");
        Timesteps = Enumerable.Range(1, S).Select(i => (int)((long)i * T / S) - 1).Reverse().ToArray();
    }

    /// <summary>x_T ~ N(0, I) of <paramref name="shape"/> from <paramref name="gen"/>, then <see cref="SampleFrom"/>.</summary>
    public Tensor Sample(int[] shape, Generator gen, Tensor? labels = null, float guidance = 1f, Action<int, Tensor>? onStep = null)
    {
        var xT = Tensor.Randn(shape, gen, Model.Device);   // on the network's device (Ddpm.Device)
        return SampleFrom(xT, gen, labels, guidance, onStep);
    }

    /// <summary>Runs the S steps from a given x_T. With η = 0 no randomness is drawn and <paramref name="gen"/> may be null.</summary>
    /// <param name="known">Inpainting (as Ddpm.Sample): pixels where <paramref name="mask"/> = 1 are replaced after each
    /// step by this image noised to the new level (draws noise from <paramref name="gen"/>), and kept exactly at the end.</param>
    public Tensor SampleFrom(Tensor xT, Generator? gen = null, Tensor? labels = null, float guidance = 1f, Action<int, Tensor>? onStep = null,
        Tensor? known = null, Tensor? mask = null)
    {
        if (Config.Eta > 0 && gen == null) throw new ArgumentException($"Ddim.SampleFrom: η = {Config.Eta} > 0 draws noise; pass a Generator.");
        if ((known == null) != (mask == null)) throw new ArgumentException("Ddim.SampleFrom: inpainting needs both the known image and its mask.");
        if (known != null && gen == null) throw new ArgumentException("Ddim.SampleFrom: inpainting noises the known pixels; pass a Generator.");
        using var noGrad = Autograd.NoGrad();
        using var emaWeights = Model.Ema?.Apply();
        var schedule = Model.Schedule;
        var x = xT;
        for (int i = 0; i < Timesteps.Length; i++)
        {
            using var scope = TensorScope.Begin();
            int t = Timesteps[i], tPrev = i + 1 < Timesteps.Length ? Timesteps[i + 1] : -1;
            double abT = schedule.AlphaBar(t), abPrev = schedule.AlphaBar(tPrev);        // ᾱ_{−1} = 1
            var (eps, x0) = Model.PredictEpsX0(x, t, labels, guidance);
            double sigma = Config.Eta * Math.Sqrt((1 - abPrev) / (1 - abT)) * Math.Sqrt(1 - abT / abPrev);
            var next = (float)Math.Sqrt(abPrev) * x0 + (float)Math.Sqrt(Math.Max(1 - abPrev - sigma * sigma, 0)) * eps;
            if (sigma > 0) next = next + (float)sigma * Tensor.RandnLike(x, gen);
            if (known != null)                                                       // RePaint: known pixels from q(x_{t'} | x₀)
            {
                var knownNoised = tPrev >= 0 ? schedule.AddNoise(known, Tensor.RandnLike(known, gen), NoiseSchedule.Steps(x.Shape[0], tPrev)) : known;
                next = Tensor.Where(mask!, knownNoised, next);
            }
            x = scope.Keep(next);
            onStep?.Invoke(i + 1, x);
        }
        return x;
    }

    /// <summary>Fills the pixels where <paramref name="mask"/> = 0 in S steps (Ddpm.Inpaint's RePaint rule on DDIM's subsequence).</summary>
    public Tensor Inpaint(Tensor known, Tensor mask, Generator gen, Tensor? labels = null, float guidance = 1f) =>
        SampleFrom(Tensor.Randn(known.Shape.ToArray(), gen, known.Device), gen, labels, guidance, null, known, mask);

    /// <summary>
    /// Song et al. §5.3: decodes slerp(a, b, λ) for λ = 0, 1/(n−1), … 1 — spherical, because Gaussian
    /// noise concentrates on a shell of radius √dim and a straight line between two points on it dips
    /// into low-probability norms. <paramref name="a"/>, <paramref name="b"/>: single x_T's of shape (1, …).
    /// Deterministic (η is taken as 0 whatever the config says).
    /// </summary>
    public Tensor Interpolate(Tensor a, Tensor b, int n, Tensor? label = null, float guidance = 1f)
    {
        if (a.Shape[0] != 1 || !ShapeUtil.Equal(a.Shape, b.Shape))
            throw new ArgumentException($"Ddim.Interpolate: expected two x_T of the same shape (1, …), got {a.ShapeStr} and {b.ShapeStr}.");
        if (n < 2) throw new ArgumentException($"Ddim.Interpolate: need n ≥ 2 points, got {n}.");
        var path = Tensor.Cat(Enumerable.Range(0, n).Select(k => Slerp(a, b, k / (float)(n - 1))).ToArray(), 0);   // (n, …)
        var labels = label == null ? null : Tensor.FromArray(Enumerable.Repeat(label.ToIntArray()[0], n).ToArray(), n).To(a.Device);
        var deterministic = new Ddim(Model, Config with { Eta = 0f });
        return deterministic.SampleFrom(path, null, labels, guidance);
    }

    /// <summary>slerp(a, b; λ) = sin((1−λ)θ)/sin θ · a + sin(λθ)/sin θ · b, θ the angle between a and b (flattened).</summary>
    public static Tensor Slerp(Tensor a, Tensor b, float lambda)
    {
        var va = a.ToArray(); var vb = b.ToArray();
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < va.Length; i++) { dot += (double)va[i] * vb[i]; na += (double)va[i] * va[i]; nb += (double)vb[i] * vb[i]; }
        double theta = Math.Acos(Math.Clamp(dot / Math.Sqrt(na * nb), -1, 1));
        if (theta < 1e-6) return a * (1 - lambda) + b * lambda;                       // (anti)parallel: the line is the arc
        float wa = (float)(Math.Sin((1 - lambda) * theta) / Math.Sin(theta)), wb = (float)(Math.Sin(lambda * theta) / Math.Sin(theta));
        return a * wa + b * wb;
    }
}
