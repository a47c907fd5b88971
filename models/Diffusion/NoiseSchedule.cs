// The variance schedule of a discrete-time diffusion and everything derived from it in closed form —
// the part diffusers calls a scheduler's tables, kept apart from the network and the samplers.
//
//   β_t            t = 0 … T−1 (the paper's 1 … T, shifted to array indices)
//   α_t = 1 − β_t,  ᾱ_t = Π_{s≤t} α_s
//   q(x_t | x₀) = N(√ᾱ_t·x₀, (1 − ᾱ_t)·I)   ⇒   x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε        (AddNoise)
//
// Schedules: linear β from 1e-4 to 0.02 over T = 1000 (Ho et al., "Denoising Diffusion Probabilistic
// Models", 2020, §4); cosine ᾱ_t = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2), s = 0.008, with
// β clipped at 0.999 (Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", 2021, §3.2).
//
// What the network predicts — ε, x₀ or v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho, "Progressive Distillation
// for Fast Sampling of Diffusion Models", 2022, §4 and appendix D) — is converted here to the (ε, x₀)
// pair every sampler works with, since x_t = √ᾱ·x₀ + √(1−ᾱ)·ε ties any two of the three to the third.
//
// Tables are kept in double (ᾱ near 4e-5 at t = T−1 loses digits in float products) and handed to the
// tensor code as per-sample (B, 1, …) coefficients. Run: dotnet test tests/Denoise.Tests.csproj -c Release
//   --filter "FullyQualifiedName~DiffusionSchedule"
namespace Denoise.Models.Diffusion;

/// <summary>What the network's output means (see the file header).</summary>
public enum Prediction { Epsilon, X0, V }

public enum ScheduleKind { Linear, Cosine }

public sealed class NoiseSchedule
{
    /// <summary>Number of diffusion steps T.</summary>
    public int T { get; }
    public ScheduleKind Kind { get; }
    public IReadOnlyList<double> Betas => betas;
    public IReadOnlyList<double> Alphas => alphas;
    public IReadOnlyList<double> AlphaBars => alphaBars;

    readonly double[] betas, alphas, alphaBars;

    NoiseSchedule(ScheduleKind kind, double[] betas)
    {
        Kind = kind;
        T = betas.Length;
        this.betas = betas;
        alphas = betas.Select(b => 1 - b).ToArray();
        alphaBars = new double[T];
        double prod = 1;
        for (int t = 0; t < T; t++) alphaBars[t] = prod *= alphas[t];
    }

    /// <summary>β linear from <paramref name="betaStart"/> to <paramref name="betaEnd"/> (DDPM: 1e-4 → 0.02 over 1000 steps).
    /// For T ≠ 1000 the endpoints are rescaled by 1000/T so ᾱ_T stays near 0 (as in Nichol & Dhariwal's code).</summary>
    public static NoiseSchedule Linear(int T = 1000, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        CheckT(T);
        double scale = 1000.0 / T;
        double b0 = Math.Min(scale * betaStart, 0.999), b1 = Math.Min(scale * betaEnd, 0.999);
        var betas = new double[T];
        for (int t = 0; t < T; t++) betas[t] = T == 1 ? b0 : b0 + (b1 - b0) * t / (T - 1);
        return new NoiseSchedule(ScheduleKind.Linear, betas);
    }

    /// <summary>ᾱ_t = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2); β_t = 1 − ᾱ_t/ᾱ_{t−1} clipped at <paramref name="maxBeta"/>.</summary>
    public static NoiseSchedule Cosine(int T = 1000, double s = 0.008, double maxBeta = 0.999)
    {
        CheckT(T);
        double f(double u) => Math.Pow(Math.Cos((u / T + s) / (1 + s) * Math.PI / 2), 2);
        var betas = new double[T];
        // The paper's steps are 1…T: β at index t is step t+1, from f(t+1)/f(t).
        for (int t = 0; t < T; t++) betas[t] = Math.Min(1 - f(t + 1) / f(t), maxBeta);
        return new NoiseSchedule(ScheduleKind.Cosine, betas);
    }

    public static NoiseSchedule Create(ScheduleKind kind, int T) => kind == ScheduleKind.Cosine ? Cosine(T) : Linear(T);

    static void CheckT(int T)
    {
        if (T < 1) throw new ArgumentException($"NoiseSchedule: the number of steps T must be ≥ 1, got {T}.");
    }

    /// <summary>ᾱ at step t, with ᾱ_{−1} = 1 (no noise): the "previous step" of the first one.</summary>
    public double AlphaBar(int t) => t < 0 ? 1.0 : alphaBars[t];

    // ───────────────────── closed forms on tensors ─────────────────────

    /// <summary>q(x_t | x₀): x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, each sample at its own step t (B) (Int32).</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        var (a, s) = (Coef(t, x0.Rank, tt => Math.Sqrt(AlphaBar(tt)), x0.Device), Coef(t, x0.Rank, tt => Math.Sqrt(1 - AlphaBar(tt)), x0.Device));
        return a * x0 + s * noise;
    }

    /// <summary>v = √ᾱ_t·ε − √(1 − ᾱ_t)·x₀, the v-prediction target.</summary>
    public Tensor Velocity(Tensor x0, Tensor noise, Tensor t)
    {
        var (a, s) = (Coef(t, x0.Rank, tt => Math.Sqrt(AlphaBar(tt)), x0.Device), Coef(t, x0.Rank, tt => Math.Sqrt(1 - AlphaBar(tt)), x0.Device));
        return a * noise - s * x0;
    }

    /// <summary>What a network with this <paramref name="prediction"/> should output for (x₀, ε) at step t.</summary>
    public Tensor Target(Prediction prediction, Tensor x0, Tensor noise, Tensor t) => prediction switch
    {
        Prediction.Epsilon => noise,
        Prediction.X0 => x0,
        _ => Velocity(x0, noise, t),
    };

    /// <summary>
    /// The (ε, x₀) a network output implies at x_t:
    ///   ε-prediction:  x₀ = (x_t − √(1−ᾱ)·ε)/√ᾱ
    ///   x₀-prediction: ε  = (x_t − √ᾱ·x₀)/√(1−ᾱ)
    ///   v-prediction:  x₀ = √ᾱ·x_t − √(1−ᾱ)·v,   ε = √(1−ᾱ)·x_t + √ᾱ·v
    /// </summary>
    public (Tensor Eps, Tensor X0) ToEpsX0(Prediction prediction, Tensor output, Tensor xt, Tensor t)
    {
        var a = Coef(t, xt.Rank, tt => Math.Sqrt(AlphaBar(tt)), xt.Device);
        var s = Coef(t, xt.Rank, tt => Math.Sqrt(1 - AlphaBar(tt)), xt.Device);
        return prediction switch
        {
            Prediction.Epsilon => (output, (xt - s * output) / a),
            Prediction.X0 => ((xt - a * output) / s, output),
            _ => (s * xt + a * output, a * xt - s * output),
        };
    }

    /// <summary>A per-sample coefficient f(t_b) as a (B, 1, …, 1) tensor of the given rank, to scale whole samples,
    /// on <paramref name="device"/> (the data's; CPU when null). The steps t are host bookkeeping (read on the CPU).</summary>
    public Tensor Coef(Tensor t, int rank, Func<int, double> f, Device? device = null)
    {
        if (t.DType != DType.Int32 || t.Rank != 1)
            throw new ArgumentException($"NoiseSchedule: timesteps must be Int32 (B), got {t.DType} {t.ShapeStr}.");
        var steps = t.ToIntArray();
        var c = new float[steps.Length];
        for (int b = 0; b < steps.Length; b++)
        {
            if (steps[b] < -1 || steps[b] >= T) throw new ArgumentException($"NoiseSchedule: timestep {steps[b]} outside 0 … {T - 1}.");
            c[b] = (float)f(steps[b]);
        }
        var shape = Enumerable.Repeat(1, rank).ToArray();
        shape[0] = steps.Length;
        var coef = Tensor.FromArray(c, shape);
        return device == null ? coef : coef.To(device);
    }

    /// <summary>A (B) Int32 tensor holding step t for every sample.</summary>
    public static Tensor Steps(int B, int t) => Tensor.FromArray(Enumerable.Repeat(t, B).ToArray(), B);
}
