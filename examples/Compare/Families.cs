// Families — the generative model families examples/Compare puts side by side. Each is one class
// behind IFamily (train under a Budget or load a checkpoint, sample, optionally a likelihood), so a
// family added later joins the comparison by writing one class and adding it to CompareApp.Families.
//
//   VAE        Kingma & Welling 2014 (models/Autoencoders/Vae.cs): conv encoder/decoder, samples E[x|z], z ~ N(0, I).
//   DCGAN      Radford et al. 2016 (models/Gan/Dcgan.cs, WORKLOADS M4): non-saturating loss, EMA generator.
//   DDIM       Ho et al. 2020 training (Ddpm.Loss, ε-prediction, T = 1000, linear β) sampled with
//              Song et al. 2021 (η = 0, S steps), class-conditional, small UNet (models/Common/UNet.cs).
//   Rect. flow Liu et al. 2023 (models/FlowMatching/RectifiedFlow.cs): the same small UNet, Euler steps, class-conditional.
// Conditional families sample balanced classes (sample i is digit i mod 10) with guidance w = 1
// (the plain conditional model: one network evaluation per step, no guidance amplification).
// Run: dotnet run -c Release --project examples/Compare -- --help
using System.Text.Json;
using Denoise.Data;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Autoencoders;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.Models.Gan;
using Denoise.NN;
using Denoise.Optim;
using VaeLikelihood = Denoise.Models.Autoencoders.Likelihood;

namespace Denoise.Examples.Compare;

/// <summary>What every family gets: the same number of optimiser steps at the same batch size on the same MNIST train split.</summary>
public sealed record Budget(int Steps, int BatchSize, MnistData Data, CancellationToken Cancel = default);

/// <summary>The size knobs of the families (small by default so CPU runs finish; tests shrink them further).</summary>
/// <param name="VaeWidth">channels of the VAE's first conv</param>
/// <param name="VaeLatent">the VAE's latent dimension</param>
/// <param name="VaeGaussian">Gaussian decoder (s = 0.1) on dequantised data instead of Bernoulli on grey levels</param>
/// <param name="UNetChannels">base channels of the diffusion / flow UNet (mults 1, 2, 4; WORKLOADS M1 uses 32)</param>
/// <param name="SamplingSteps">DDIM steps and Euler steps: the network evaluations per sample</param>
/// <param name="SampleBatch">images generated per network call</param>
/// <param name="IwaeK">importance samples of the VAE's −log p(x) estimate</param>
/// <param name="LikelihoodImages">test digits the likelihood is estimated on</param>
/// <param name="Device">where every family trains and samples (a Device.Parse name); batches go there, images come back to the host for scoring</param>
public sealed record FamilyOptions(int VaeWidth = 32, int VaeLatent = 16, bool VaeGaussian = false, int UNetChannels = 16,
                                   int SamplingSteps = 50, int SampleBatch = 100, int IwaeK = 64, int LikelihoodImages = 500,
                                   string Device = "cpu")
{
    /// <summary>The parsed <see cref="Device"/> (parsed once: "best" prints its choice).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public Device On => on ??= Denoise.Device.Parse(Device);
    Device? on;
}

/// <summary>Samples in [0, 1] (N, 1, 28, 28), the class each was drawn for (conditional families) and its network evaluations.</summary>
public sealed record SampleSet(Tensor Images01, int[]? IntendedLabels, double EvaluationsPerSample);

/// <summary>−ELBO and the IWAE bound of −log p(x), in nats per image and bits per dimension.</summary>
public sealed record LikelihoodEstimate(double NegElboNats, double NllNats, double BitsPerDim, int K, int Images, string Convention);

/// <summary>One generative family in the comparison. A fresh instance is made per seed.</summary>
public interface IFamily
{
    /// <summary>Display name (ASCII: the PNG font has no Greek).</summary>
    string Name { get; }
    /// <summary>File-name key: the checkpoint folder is &lt;load&gt;/&lt;Key&gt;[-seed&lt;s&gt;]/checkpoint.safetensors.</summary>
    string Key { get; }
    bool Conditional { get; }
    /// <summary>Every trained parameter (a GAN counts G and D).</summary>
    long Parameters { get; }
    /// <summary>Network and sampler in a few words, for the report.</summary>
    string Description { get; }
    void Train(Budget budget, int seed, CostMeter meter);
    /// <summary>Loads the weights (and EMA) from a checkpoint; false when the family has none there.</summary>
    bool TryLoad(string checkpointDir, TextWriter log);
    /// <summary>Writes a checkpoint that <see cref="TryLoad"/> reads back.</summary>
    void Save(string checkpointDir, int steps);
    SampleSet Sample(int n, int seed, CostMeter meter);
    /// <summary>A likelihood estimate on test digits, or null where the family defines none.</summary>
    LikelihoodEstimate? Likelihood(TensorDataset test, int seed) => null;
}

/// <summary>The training loop and sampling batches every family shares.</summary>
static class FamilyLoop
{
    /// <summary>budget.Steps steps on shuffled train batches (images in [0, 1], labels); stops on Ctrl-C or a non-finite loss.</summary>
    public static void Train(Budget budget, int seed, CostMeter meter, Device device, Func<Tensor, Tensor, float> step)
    {
        using var loader = new DataLoader(budget.Data.Train.Images, budget.Data.Train.Labels, budget.BatchSize, seed: (ulong)seed, dropLast: true);
        for (int i = 0; i < budget.Steps; i++)
        {
            budget.Cancel.ThrowIfCancellationRequested();
            using var scope = TensorScope.Begin();
            var (x, y) = loader.Next();
            float loss = step(x.To(device), y!.To(device));
            meter.AddSamples(budget.BatchSize);
            if (!float.IsFinite(loss)) throw new InvalidOperationException($"training diverged: loss {loss} at step {i + 1}");
        }
    }

    /// <summary>n samples in batches: <paramref name="draw"/>(count, labels or null, both on <paramref name="device"/>) returns
    /// [0, 1] images; they come back to the host.</summary>
    public static Tensor Batched(int n, int batch, bool conditional, Device device, Func<int, Tensor?, Tensor> draw, out int[]? labels)
    {
        labels = conditional ? Enumerable.Range(0, n).Select(i => i % 10).ToArray() : null;
        var pixels = new float[n * 784];
        for (int i = 0; i < n; i += batch)
        {
            using var scope = TensorScope.Begin();
            int b = Math.Min(batch, n - i);
            var y = labels == null ? null : Tensor.FromArray(labels[i..(i + b)], b).To(device);
            draw(b, y).To(Device.Cpu).Contiguous().ToArray().CopyTo(pixels, i * 784);
        }
        return Tensor.FromArray(pixels, n, 1, 28, 28);
    }

    public static string Checkpoint(string dir) => Path.Combine(dir, "checkpoint.safetensors");

    /// <summary>A property of the config.json an example program wrote beside its checkpoint (or null).</summary>
    public static JsonElement? ConfigValue(string dir, string name)
    {
        string path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.TryGetProperty(name, out var v) ? v.Clone() : null;
    }
}

public sealed class VaeFamily(FamilyOptions o) : IFamily
{
    Vae vae = Build(o.VaeLatent, o.VaeWidth, o.VaeGaussian, 0);
    const string ModelName = "ae-vae-vae";   // examples/Vae's name for --model vae, so its checkpoints load

    static Vae Build(int latent, int width, bool gaussian, int seed) =>
        new(new VaeConfig(latent, gaussian ? VaeLikelihood.Gaussian : VaeLikelihood.Bernoulli, Width: width), new Generator((ulong)seed));

    public string Name => "VAE";
    public string Key => "vae";
    public bool Conditional => false;
    public long Parameters => vae.ParameterCount();
    public string Description => $"conv VAE, width {vae.Config.Width}, latent {vae.Config.LatentDim}, {vae.Config.Likelihood} decoder; sample = E[x|z]";

    public void Train(Budget budget, int seed, CostMeter meter)
    {
        vae = Build(o.VaeLatent, o.VaeWidth, o.VaeGaussian, seed);
        vae.To(o.On);
        var gen = new Generator((ulong)seed + 1);
        var opt = new Adam(vae.Parameters(), lr: 1e-3f);   // examples/Vae's default
        FamilyLoop.Train(budget, seed, meter, o.On, (x, _) =>
        {
            // A Gaussian decoder is a density: train it on dequantised pixels, as its likelihood is measured.
            var loss = vae.Loss(o.VaeGaussian ? Metrics.Likelihood.Dequantize(x, gen) : x, null, gen);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            meter.AddEvaluations(2L * x.Shape[0]);   // encoder + decoder (forward)
            return loss.Item();
        });
    }

    public bool TryLoad(string dir, TextWriter log)
    {
        string path = FamilyLoop.Checkpoint(dir);
        if (!File.Exists(path)) return false;
        // examples/Vae records its sizes in config.json; a checkpoint written by Compare has them too.
        if (FamilyLoop.ConfigValue(dir, "model") is { } m && m.GetString() != "vae")
            throw new InvalidDataException($"{dir}: holds a '{m.GetString()}' model, not 'vae'.");
        int latent = FamilyLoop.ConfigValue(dir, "Latent")?.GetInt32() ?? o.VaeLatent;
        int width = FamilyLoop.ConfigValue(dir, "Width")?.GetInt32() ?? o.VaeWidth;
        bool gaussian = FamilyLoop.ConfigValue(dir, "Likelihood")?.GetString() is { } l ? l == "gaussian" : o.VaeGaussian;
        vae = Build(latent, width, gaussian, 0);
        Checkpoint.Load(path, new TrainingState(ModelName, vae));
        vae.To(o.On);
        return true;
    }

    public void Save(string dir, int steps)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new
        { model = "vae", Latent = vae.Config.LatentDim, Width = vae.Config.Width, Likelihood = vae.Config.Likelihood.ToString().ToLowerInvariant() }));
        Checkpoint.Save(FamilyLoop.Checkpoint(dir), new TrainingState(ModelName, vae), steps);
    }

    public SampleSet Sample(int n, int seed, CostMeter meter)
    {
        vae.Eval();
        var gen = new Generator((ulong)seed + 2);
        var x = FamilyLoop.Batched(n, o.SampleBatch, false, o.On, (b, _) => vae.Sample(b, gen), out var labels);
        meter.AddSamples(n, evaluationsEach: 1);   // one decoder pass
        return new SampleSet(x, labels, 1);
    }

    public LikelihoodEstimate? Likelihood(TensorDataset test, int seed)
    {
        vae.Eval();
        var gen = new Generator((ulong)seed + 3);
        int m = Math.Min(o.LikelihoodImages, test.Count), k = o.IwaeK;
        bool gaussian = vae.Config.Likelihood == VaeLikelihood.Gaussian;
        double elbo = 0, iwae = 0;
        using (Autograd.NoGrad())
            for (int i = 0; i < m; i += 50)
                using (TensorScope.Begin())
                {
                    var x = test.Images.Narrow(0, i, Math.Min(50, m - i)).Contiguous().To(o.On);
                    if (gaussian) x = Metrics.Likelihood.Dequantize(x, gen);
                    elbo += vae.Terms(x, null, gen).Elbo.Sum().Item();
                    iwae += vae.ImportanceWeightedLogLikelihood(x, null, k, gen).Sum().Item();
                }
        double negElbo = -elbo / m, nll = -iwae / m;
        // Gaussian: a density on dequantised [0, 1) pixels, so bits/dim is the dequantisation bound.
        // Bernoulli on grey levels is not a normalised likelihood of the pixels (Vae.cs header): its
        // bits/dim is nll / (D ln 2) and compares only with other Bernoulli-on-grey numbers.
        return gaussian
            ? new LikelihoodEstimate(negElbo, nll, Metrics.Likelihood.BitsPerDim(nll, 784), k, m, "Gaussian decoder, uniform dequantisation")
            : new LikelihoodEstimate(negElbo, nll, Metrics.Likelihood.BitsPerDimDiscrete(nll, 784), k, m, "Bernoulli on grey levels (not a dequantised density)");
    }
}

public sealed class DcganFamily(FamilyOptions o) : IFamily
{
    Dcgan gan = new(new DcganConfig(), new Generator(0));
    const string ModelName = "gan-dcgan";   // examples/Gan's name for --model dcgan

    public string Name => "DCGAN";
    public string Key => "dcgan";
    public bool Conditional => false;
    public long Parameters => gan.ParameterCount();
    public string Description => "DCGAN-S (WORKLOADS M4), non-saturating loss, EMA generator; 1 G pass per sample";

    public void Train(Budget budget, int seed, CostMeter meter)
    {
        var gen = new Generator((ulong)seed);
        gan = new Dcgan(new DcganConfig(), gen);
        gan.To(o.On);
        using var loader = new DataLoader(budget.Data.Train.Images, null, budget.BatchSize, seed: (ulong)seed, dropLast: true);
        for (int i = 0; i < budget.Steps; i++)
        {
            budget.Cancel.ThrowIfCancellationRequested();
            using var scope = TensorScope.Begin();
            var s = gan.TrainStep(() => (Pixels.ToSigned(loader.Next().Inputs.To(o.On)), null), gen);
            meter.AddSamples(budget.BatchSize);
            meter.AddEvaluations(4L * budget.BatchSize);   // G once; D on real, on fake (D step) and on fake (G step)
            if (!float.IsFinite(s.LossD) || !float.IsFinite(s.LossG)) throw new InvalidOperationException($"training diverged at step {i + 1}");
        }
    }

    public bool TryLoad(string dir, TextWriter log)
    {
        string path = FamilyLoop.Checkpoint(dir);
        if (!File.Exists(path)) return false;
        gan = new Dcgan(new DcganConfig(), new Generator(0));
        Checkpoint.Load(path, new TrainingState(ModelName, gan, Ema: gan.Ema));
        gan.To(o.On);
        return true;
    }

    public void Save(string dir, int steps)
    {
        Directory.CreateDirectory(dir);
        Checkpoint.Save(FamilyLoop.Checkpoint(dir), new TrainingState(ModelName, gan, Ema: gan.Ema), steps);
    }

    public SampleSet Sample(int n, int seed, CostMeter meter)
    {
        var gen = new Generator((ulong)seed + 2);
        var x = FamilyLoop.Batched(n, o.SampleBatch, false, o.On, (b, _) => Pixels.ToUnit(gan.Sample(gan.SampleZ(b, gen))), out var labels);
        meter.AddSamples(n, evaluationsEach: 1);
        return new SampleSet(x, labels, 1);
    }
}

/// <summary>What the two UNet families share: the network, its EMA, training, checkpoints.</summary>
public abstract class UNetFamily(FamilyOptions o) : IFamily
{
    protected readonly FamilyOptions Options = o;
    protected UNet Net = null!;
    protected Ema Ema = null!;

    public abstract string Name { get; }
    public abstract string Key { get; }
    public bool Conditional => true;
    public long Parameters => Net?.ParameterCount() ?? Build(0).Net.ParameterCount();
    public abstract string Description { get; }
    /// <summary>TimeScale of the UNet: DDPM passes integer steps, a flow t ∈ [0, 1] (UNet.cs header).</summary>
    protected abstract float TimeScale { get; }
    protected abstract Tensor Loss(Tensor xSigned, Tensor labels, Generator gen);
    protected abstract void Bind();

    (UNet Net, Ema Ema) Build(int seed)
    {
        int c = Options.UNetChannels;
        // GroupNorm groups must divide every level's channels (c, 2c, 4c); attention heads the middle's 4c.
        var net = new UNet(new UNetConfig(BaseChannels: c, Groups: Math.Min(8, c), Heads: Math.Min(4, c), TimeEmbedDim: Math.Max(16, 4 * c),
                                          NumClasses: 10, TimeScale: TimeScale), new Generator((ulong)seed));
        net.To(Options.On);   // the EMA's shadow weights are made on the network's device
        return (net, new Ema(net.Parameters(), decay: 0.999f));   // with warm-up, so short runs average recent weights only
    }

    void Use((UNet Net, Ema Ema) built) { (Net, Ema) = built; Bind(); }

    public void Train(Budget budget, int seed, CostMeter meter)
    {
        Use(Build(seed));
        var gen = new Generator((ulong)seed + 1);
        var opt = new AdamW(Net.Parameters(), lr: 1e-3f, weightDecay: 0f);   // examples/Diffusion's default for small UNets
        FamilyLoop.Train(budget, seed, meter, Options.On, (x, y) =>
        {
            var loss = Loss(Pixels.ToSigned(x), y, gen);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            Ema.Update();
            meter.AddEvaluations(x.Shape[0]);
            return loss.Item();
        });
    }

    public bool TryLoad(string dir, TextWriter log)
    {
        string path = FamilyLoop.Checkpoint(dir);
        if (!File.Exists(path)) return false;
        Use(Build(0));
        Checkpoint.Load(path, new TrainingState("compare-" + Key, Net, Ema: Ema));
        return true;
    }

    public void Save(string dir, int steps)
    {
        Directory.CreateDirectory(dir);
        Checkpoint.Save(FamilyLoop.Checkpoint(dir), new TrainingState("compare-" + Key, Net, Ema: Ema), steps);
    }

    public abstract SampleSet Sample(int n, int seed, CostMeter meter);
}

public sealed class DdimFamily(FamilyOptions o) : UNetFamily(o)
{
    Ddpm ddpm = null!;
    Ddim ddim = null!;

    public override string Name => "DDIM";
    public override string Key => "ddim";
    public override string Description => $"DDPM-trained UNet (base {Options.UNetChannels}, eps-prediction, T = 1000), DDIM eta = 0, {Options.SamplingSteps} steps";
    protected override float TimeScale => 1f;

    protected override void Bind()
    {
        ddpm = new Ddpm(Net, new DdpmConfig(NumClasses: 10, LabelDropout: 0.1f, ClipX0: 1f), Ema) { Device = Options.On };
        ddim = new Ddim(ddpm, new DdimConfig(Steps: Math.Min(Options.SamplingSteps, ddpm.Schedule.T)));
    }

    protected override Tensor Loss(Tensor x, Tensor labels, Generator gen) => ddpm.Loss(x, gen, labels);

    public override SampleSet Sample(int n, int seed, CostMeter meter)
    {
        Net.Eval();
        var gen = new Generator((ulong)seed + 2);
        var x = FamilyLoop.Batched(n, Options.SampleBatch, true, Options.On, (b, y) => Pixels.ToUnit(ddim.Sample([b, 1, 28, 28], gen, y)), out var labels);
        meter.AddSamples(n, evaluationsEach: ddim.Config.Steps);
        return new SampleSet(x, labels, ddim.Config.Steps);
    }
}

public sealed class RectifiedFlowFamily(FamilyOptions o) : UNetFamily(o)
{
    RectifiedFlow flow = null!;

    public override string Name => "Rectified flow";
    public override string Key => "flow";
    public override string Description => $"flow-matching UNet (base {Options.UNetChannels}, straight path), Euler, {Options.SamplingSteps} steps";
    protected override float TimeScale => 1000f;

    protected override void Bind() => flow = new RectifiedFlow(Net, new FlowConfig(NumClasses: 10, Solver: OdeSolver.Euler), Ema) { Device = Options.On };

    protected override Tensor Loss(Tensor x, Tensor labels, Generator gen) => flow.Loss(x, gen, labels);

    public override SampleSet Sample(int n, int seed, CostMeter meter)
    {
        Net.Eval();
        var gen = new Generator((ulong)seed + 2);
        int steps = Options.SamplingSteps;
        var x = FamilyLoop.Batched(n, Options.SampleBatch, true, Options.On, (b, y) => Pixels.ToUnit(flow.Sample([b, 1, 28, 28], steps, gen, labels: y)), out var labels);
        meter.AddSamples(n, evaluationsEach: steps);
        return new SampleSet(x, labels, steps);
    }
}
