// Gan — what every GAN here shares (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014):
// a generator G(z[, y]) and a discriminator/critic D(x[, y]) trained in alternation, each with its own
// Adam, an EMA of G's weights for sampling (Yazıcı et al., ICLR 2019), the losses, and the monitors
// that make the classic failure modes visible. The models are Dcgan.cs (WORKLOADS M4), WganGp.cs and
// ConditionalGan.cs; each reads as its paper's algorithm box on top of this.
//
// Losses on D's logits (real: r = D(x), fake: f = D(G(z))):
//   NonSaturating  L_D = softplus(−r) + softplus(f)          L_G = softplus(−f)   (BCE with logits; Goodfellow §3)
//   Hinge          L_D = relu(1 − r) + relu(1 + f)           L_G = −f             (Lim & Ye 2017; Miyato et al. 2018)
//   Wasserstein    L_D = f − r   (+ gradient penalty)        L_G = −f             (Arjovsky et al. 2017)
// each averaged over the batch.
//
// Monitors per step (GanStepStats): both losses, D's accuracy on real and on fake (a real logit above
// the threshold counts as right, a fake one below it; the threshold is 0, or for a Wasserstein critic
// the midpoint of the mean real and fake scores), and the L2 norms of D's and G's gradients.
// GanMonitor warns when D wins outright (accuracy ≥ 0.99 on both for `patience` steps in a row: G
// gets no useful gradient from a saturated D) and when a loss is NaN or infinite.
//
// Sampling puts G in eval mode (BatchNorm uses its running statistics, so an image depends only on
// its own z, not on the batch it is in) and, by default, swaps in the EMA weights; both are restored.
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Gan
using Denoise.NN;
using Denoise.Optim;

namespace Denoise.Models.Gan;

public enum GanLoss { NonSaturating, Hinge, Wasserstein }

/// <summary>One training step's monitors; GradientPenalty is 0 where there is none.</summary>
public sealed record GanStepStats(float LossD, float LossG, float DAccuracyReal, float DAccuracyFake,
                                  float GradNormD, float GradNormG, float GradientPenalty = 0f);

public static class GanLosses
{
    /// <summary>L_D on logits (B, 1), averaged.</summary>
    public static Tensor Discriminator(Tensor real, Tensor fake, GanLoss kind) => kind switch
    {
        GanLoss.NonSaturating => (-real).Softplus().Mean() + fake.Softplus().Mean(),
        GanLoss.Hinge => (1f - real).Relu().Mean() + (1f + fake).Relu().Mean(),
        _ => fake.Mean() - real.Mean(),
    };

    /// <summary>L_G on D's logits for the fakes (B, 1), averaged.</summary>
    public static Tensor Generator(Tensor fake, GanLoss kind) =>
        kind == GanLoss.NonSaturating ? (-fake).Softplus().Mean() : -fake.Mean();

    /// <summary>(accuracy on real, accuracy on fake); see the file header for the threshold.</summary>
    public static (float Real, float Fake) Accuracy(Tensor real, Tensor fake, GanLoss kind)
    {
        float[] r = real.ToArray(), f = fake.ToArray();
        float threshold = kind == GanLoss.Wasserstein ? 0.5f * (r.Average() + f.Average()) : 0f;
        return (r.Count(v => v > threshold) / (float)r.Length, f.Count(v => v < threshold) / (float)f.Length);
    }

    /// <summary>√(Σ‖grad‖²) over the parameters' .Grad (0 for those without one).</summary>
    public static float GradNorm(IEnumerable<Tensor> parameters)
    {
        double sum = 0;
        Tensor? onDevice = null;   // device gradients: Σg² summed on the device (float), read back once
        foreach (var p in parameters)
            if (p.Grad is { } g)
            {
                if (g.Device != Device.Cpu)
                    using (Autograd.NoGrad())
                    {
                        var part = (g.Detach() * g.Detach()).Sum();
                        onDevice = onDevice == null ? part : onDevice + part.To(onDevice.Device);
                    }
                else foreach (var v in g.Contiguous().Span) sum += (double)v * v;
            }
        if (onDevice != null) sum += onDevice.Item();
        return (float)Math.Sqrt(sum);
    }
}

/// <summary>Turns step statistics into warnings about the classic failure modes.</summary>
public sealed class GanMonitor(int patience = 200, float winAccuracy = 0.99f)
{
    int dWinsRun;
    bool warnedWin;

    /// <summary>Steps in a row that D has been (almost) always right on both real and fake.</summary>
    public int DWinsRun => dWinsRun;

    /// <summary>A warning for this step, or null. A "D wins" warning is given once per run of such steps.</summary>
    public string? Observe(int step, GanStepStats s)
    {
        if (!float.IsFinite(s.LossD) || !float.IsFinite(s.LossG))
            return $"step {step}: a loss is not finite (L_D = {s.LossD}, L_G = {s.LossG}); training has diverged — lower the learning rate.";
        if (s.DAccuracyReal >= winAccuracy && s.DAccuracyFake >= winAccuracy) dWinsRun++;
        else { dWinsRun = 0; warnedWin = false; }
        if (dWinsRun >= patience && !warnedWin)
        {
            warnedWin = true;
            return $"step {step}: the discriminator has won outright for {dWinsRun} steps (accuracy ≥ {winAccuracy:P0} on real and fake; " +
                   $"‖∇G‖ = {s.GradNormG:G3}); the generator is getting little signal — consider the hinge or Wasserstein loss, a lower D learning rate, or fewer D steps.";
        }
        return null;
    }
}

/// <summary>
/// A generator and a discriminator with their optimizers and G's EMA. Subclasses say how G and D see
/// labels and what one training step is.
/// </summary>
public abstract class Gan : Module
{
    public Layer G { get; }
    /// <summary>The discriminator (a Layer, or a two-input module for the projection discriminator).</summary>
    public Module D { get; }
    public Adam OptG { get; }
    public Adam OptD { get; }
    public Ema Ema { get; }
    public GanLoss LossKind { get; }
    public int ZDim { get; }
    /// <summary>0: unconditional; K: G and D take labels 0…K−1.</summary>
    public int NumClasses { get; }

    protected Gan(Layer g, Module d, int zDim, int numClasses, GanLoss loss, float lrG, float lrD, float beta1, float beta2, float emaDecay)
    {
        G = Add("generator", g);
        D = Add("discriminator", d);
        ZDim = zDim; NumClasses = numClasses; LossKind = loss;
        OptG = new Adam(G.Parameters(), lr: lrG, beta1: beta1, beta2: beta2);
        OptD = new Adam(D.Parameters(), lr: lrD, beta1: beta1, beta2: beta2);
        Ema = new Ema(G.Parameters(), decay: emaDecay);
    }

    /// <summary>G(z[, y]) (B, 1, 28, 28) in (−1, 1).</summary>
    public abstract Tensor Generate(Tensor z, Tensor? labels);

    /// <summary>D(x[, y]) → logits (B, 1).</summary>
    public abstract Tensor Discriminate(Tensor x, Tensor? labels);

    /// <summary>One training step; <paramref name="nextReal"/> hands out real batches (images in [−1, 1], labels).</summary>
    public abstract GanStepStats TrainStep(Func<(Tensor Images, Tensor? Labels)> nextReal, Generator gen);

    /// <summary>z ~ N(0, I) of shape (n, ZDim) on the model's device.</summary>
    public Tensor SampleZ(int n, Generator? gen) => Tensor.Randn([n, ZDim], gen, Parameters().First().Device);

    /// <summary>
    /// One discriminator update on real vs fake (fake detached: no gradient reaches G).
    /// Returns (L_D, accuracies, ‖∇D‖).
    /// </summary>
    public (float Loss, float AccReal, float AccFake, float GradNorm) DiscriminatorStep(Tensor real, Tensor fake, Tensor? labels)
    {
        var dReal = Discriminate(real, labels);
        var dFake = Discriminate(fake.Detach(), labels);
        var loss = GanLosses.Discriminator(dReal, dFake, LossKind);
        OptD.ZeroGrad();
        loss.Backward();
        float norm = GanLosses.GradNorm(D.Parameters());
        OptD.Step();
        var (accR, accF) = GanLosses.Accuracy(dReal, dFake, LossKind);
        return (loss.Item(), accR, accF, norm);
    }

    /// <summary>
    /// One generator update on D(fake). D's weights receive gradients too but are not stepped; the next
    /// DiscriminatorStep zeroes them. Returns (L_G, ‖∇G‖).
    /// </summary>
    public (float Loss, float GradNorm) GeneratorStep(Tensor fake, Tensor? labels)
    {
        var loss = GanLosses.Generator(Discriminate(fake, labels), LossKind);
        OptG.ZeroGrad();
        loss.Backward();
        float norm = GanLosses.GradNorm(G.Parameters());
        OptG.Step();
        Ema.Update();
        return (loss.Item(), norm);
    }

    /// <summary>Images G(z[, y]) with G in eval mode (running BatchNorm statistics) and, if <paramref name="useEma"/>, the EMA weights.</summary>
    public Tensor Sample(Tensor z, Tensor? labels = null, bool useEma = true)
    {
        bool wasTraining = G.IsTraining;
        G.Eval();
        try
        {
            using var _ = Autograd.NoGrad();
            if (!useEma) return Generate(z, labels);
            using (Ema.Apply()) return Generate(z, labels);
        }
        finally { G.Train(wasTraining); }
    }
}
