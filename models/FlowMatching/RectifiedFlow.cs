// Conditional flow matching with the straight (rectified) path, its ODE samplers, and reflow.
//
// Papers: Lipman et al., "Flow Matching for Generative Modeling" (2023); Liu, Gong & Liu, "Flow
// Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow" (ICLR 2023).
//
//   x₀ ~ N(0, I) (noise),  x₁ ~ data,  t ~ U(0, 1)
//   x_t = (1 − t)·x₀ + t·x₁           a straight line from noise to data
//   target velocity  u = x₁ − x₀      constant along that line
//   loss  = ‖v_θ(x_t, t) − u‖²        (Algorithm 1: training)
//   sample: integrate dx/dt = v_θ(x, t) from t = 0 to 1   (Algorithm 2: sampling), in N equal steps:
//     Euler     x ← x + Δt·v(x, t)                                     1 evaluation per step
//     Heun      x̃ = x + Δt·v(x, t);  x ← x + Δt/2·(v(x, t) + v(x̃, t+Δt))       2 (Karras et al. 2022, alg. 1)
//     Midpoint  x_½ = x + Δt/2·v(x, t); x ← x + Δt·v(x_½, t + Δt/2)        2
//
// Reflow (Liu et al. §2.2, "k-rectified flow"): the trained flow couples each noise x₀ with the sample
// x₁ = ODE(x₀) it produces. Training a new flow on those pairs (CouplingLoss) instead of independent
// (noise, data) pairs gives paths that no longer cross, so the flow gets straighter and sampling works
// in 1–2 Euler steps. Liu et al. measure it by the straightness (their eq. 5)
//   S(Z) = ∫₀¹ E‖(Z₁ − Z₀) − Ż_t‖² dt,   0 exactly when every trajectory is a straight line at constant speed.
//
// Class conditioning and classifier-free guidance work as for diffusion (models/Common/ClassifierFreeGuidance.cs),
// with the velocity in place of ε. EMA weights: set Ema and sampling runs inside `using (ema.Apply())`.
//
// The network is passed in as v(x, t, labels) with t of shape (B) in [0, 1]; this file does not care
// whether it is the 2-D MLP of WORKLOADS M2 or a UNet (set UNetConfig.TimeScale = 1000 for the latter).
// Run: dotnet run -c Release --project examples/Toy2D; dotnet test … --filter "FullyQualifiedName~DiffusionFlow"
using Denoise.Models.Common;
using Denoise.Optim;

namespace Denoise.Models.FlowMatching;

public enum OdeSolver { Euler, Heun, Midpoint }

/// <param name="NumClasses">0: unconditional. Otherwise labels 0…NumClasses−1; id NumClasses is the null label.</param>
/// <param name="LabelDropout">p_uncond: probability a training label becomes null (classifier-free guidance; 0.1 is usual).</param>
/// <param name="Solver">ODE solver for sampling (Euler: Liu et al.; Heun: Karras et al. 2022, second order).</param>
public sealed record FlowConfig(int NumClasses = 0, float LabelDropout = 0.1f, OdeSolver Solver = OdeSolver.Euler);

public sealed class RectifiedFlow
{
    readonly IDenoiser network;
    public FlowConfig Config { get; }
    /// <summary>If set, sampling uses these averaged weights (applied, then restored).</summary>
    public Ema? Ema { get; set; }

    /// <param name="velocity">v_θ(x_t, t): x_t of shape (B, …), t of shape (B) in [0, 1]; unconditional.</param>
    public RectifiedFlow(Func<Tensor, Tensor, Tensor> velocity) : this(Denoiser.From(velocity)) { }

    public RectifiedFlow(IDenoiser network, FlowConfig? config = null, Ema? ema = null)
    {
        this.network = network;
        Config = config ?? new FlowConfig();
        Ema = ema;
    }

    public int NullLabel => Config.NumClasses;

    /// <summary>
    /// Where Sample and ReflowPairs draw noise: the network's device (set it after moving the network, e.g.
    /// `net.To(device); flow.Device = device;`). Training follows the batch's device by itself.
    /// </summary>
    public Device Device { get; set; } = Device.Cpu;

    // ───────────────────── Algorithm 1: training ─────────────────────

    /// <summary>The flow-matching loss on a batch of data x₁ (B, …), with independent noise x₀ ~ N(0, I).</summary>
    public Tensor Loss(Tensor x1, Generator gen, Tensor? labels = null) =>
        CouplingLoss(Tensor.Randn(x1.Shape.ToArray(), gen, x1.Device), x1, gen, labels);

    /// <summary>The same loss for given couplings (x₀, x₁) — independent for 1-rectified flow, ODE pairs for reflow.</summary>
    public Tensor CouplingLoss(Tensor x0, Tensor x1, Generator gen, Tensor? labels = null)
    {
        int B = x1.Shape[0];
        var t = Tensor.Rand([B], gen, x1.Device);
        var tb = t.Reshape(BroadcastShape(B, x1.Rank));     // (B, 1, …) to scale whole samples
        var xt = (1f - tb) * x0 + tb * x1;
        var target = x1 - x0;
        labels = ClassifierFreeGuidance.DropLabels(labels, Config.LabelDropout, NullLabel, gen);
        var predicted = network.Forward(xt, t, labels);
        return (predicted - target).Square().Mean();
    }

    // ───────────────────── Algorithm 2: sampling ─────────────────────

    /// <summary>Integrates dx/dt = v_θ(x, t) from noise at t = 0 to data at t = 1 in <paramref name="steps"/> steps of Config.Solver.</summary>
    /// <param name="onStep">Called after each step with (step, x) — for trajectories and progress.</param>
    /// <param name="labels">Class ids (B) for a conditional model, or null.</param>
    /// <param name="guidance">Classifier-free guidance scale w (1 = plain conditional; 0 = unconditional).</param>
    public Tensor Sample(int[] shape, int steps, Generator gen, Action<int, Tensor>? onStep = null, Tensor? labels = null, float guidance = 1f) =>
        SampleFrom(Tensor.Randn(shape, gen, Device), steps, onStep, labels, guidance);

    /// <summary>The ODE solve from a given x₀ (deterministic: the same x₀ gives the same sample).</summary>
    public Tensor SampleFrom(Tensor x0, int steps, Action<int, Tensor>? onStep = null, Tensor? labels = null, float guidance = 1f)
    {
        if (steps < 1) throw new ArgumentException($"RectifiedFlow.Sample: steps must be ≥ 1, got {steps}.");
        using var noGrad = Autograd.NoGrad();
        using var emaWeights = Ema?.Apply();
        var x = x0;
        float dt = 1f / steps;
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();           // this step's temporaries go back to the pool
            float t = i * dt;
            var v = Velocity(x, t, labels, guidance);
            var next = Config.Solver switch
            {
                OdeSolver.Euler => x + v * dt,
                OdeSolver.Heun => x + (v + Velocity(x + v * dt, t + dt, labels, guidance)) * (dt / 2),
                _ => x + Velocity(x + v * (dt / 2), t + dt / 2, labels, guidance) * dt,     // midpoint
            };
            x = scope.Keep(next);
            onStep?.Invoke(i + 1, x);
        }
        return x;
    }

    /// <summary>v_θ(x, t) for every sample at the same time t, with guidance.</summary>
    Tensor Velocity(Tensor x, float t, Tensor? labels, float guidance) =>
        ClassifierFreeGuidance.Predict(network, x, Tensor.Full([x.Shape[0]], t, x.Device), labels, guidance, NullLabel);

    // ───────────────────── reflow ─────────────────────

    /// <summary>
    /// The coupling the trained flow induces: n noises x₀ and the samples x₁ = ODE(x₀) they flow to,
    /// for training a 2-rectified flow with <see cref="CouplingLoss"/> (Liu et al. §2.2). Labels (n)
    /// and guidance, if given, are the ones the pairs were generated with; train on the same labels.
    /// </summary>
    public (Tensor Noise, Tensor Samples) ReflowPairs(int[] shape, int steps, Generator gen, Tensor? labels = null, float guidance = 1f)
    {
        var x0 = Tensor.Randn(shape, gen, Device);
        var x1 = SampleFrom(x0, steps, null, labels, guidance);
        return (x0, x1);
    }

    /// <summary>
    /// Liu et al.'s straightness S = ∫₀¹ E‖(x₁ − x₀) − v(x_t, t)‖² dt along the Euler path from x₀ (B, …),
    /// with the integral a mean over the <paramref name="steps"/> step velocities v_i. Because an Euler
    /// path ends at x₁ = x₀ + Δt·Σv_i, i.e. x₁ − x₀ is the mean of the v_i, S is the spread of each
    /// trajectory's velocities around their mean: S = mean_i ‖v_i‖² − ‖x₁ − x₀‖², per sample, averaged.
    /// </summary>
    public double Straightness(Tensor x0, int steps, Tensor? labels = null, float guidance = 1f)
    {
        using var noGrad = Autograd.NoGrad();
        using var emaWeights = Ema?.Apply();
        int B = x0.Shape[0];
        var sumSquaredSpeed = new double[B];                 // Σ_i ‖v_i‖² per sample
        var x = x0;
        float dt = 1f / steps;
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();
            var v = Velocity(x, i * dt, labels, guidance);
            var perSample = v.Square().Reshape(B, -1).Sum(1).ToArray();
            for (int b = 0; b < B; b++) sumSquaredSpeed[b] += perSample[b];
            x = scope.Keep(x + v * dt);
        }
        var displacement = (x - x0).Square().Reshape(B, -1).Sum(1).ToArray();   // ‖x₁ − x₀‖²
        double s = 0;
        for (int b = 0; b < B; b++) s += sumSquaredSpeed[b] / steps - displacement[b];
        return Math.Max(s / B, 0);                           // ≥ 0 up to rounding
    }

    static int[] BroadcastShape(int batch, int rank)
    {
        var s = Enumerable.Repeat(1, rank).ToArray();
        s[0] = batch;
        return s;
    }
}
