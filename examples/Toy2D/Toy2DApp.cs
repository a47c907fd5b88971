// Toy2D — rectified flow, reflow, DDPM and DDIM on a 2-D distribution with the WORKLOADS M2 MLP.
//
//   dotnet run -c Release --project examples/Toy2D                       flow on two moons, 3,000 steps (< 1 min on 2 cores)
//   dotnet run -c Release --project examples/Toy2D -- --method ddpm      DDPM (T = 1000, ε-prediction), 1,000 ancestral steps
//   dotnet run -c Release --project examples/Toy2D -- --method ddim      the same training, --sampling-steps DDIM steps (η = 0)
//   dotnet run -c Release --project examples/Toy2D -- --method reflow    flow for --steps, then a 2-rectified flow on its
//                                                                        (noise, sample) pairs for --reflow-steps
//   dotnet run -c Release --project examples/Toy2D -- --data 8gaussians --steps 5000 --out runs/8g
//   dotnet run -c Release --project examples/Toy2D -- --device cuda   the same on a GPU (any Device.Parse name)
//   dotnet run -c Release --project examples/Toy2D -- --resume           continue from runs/toy2d/checkpoint.safetensors
//   dotnet run -c Release --project examples/Toy2D -- --help
//
// Writes into --out: config.json, metrics.jsonl (loss per logged step), samples.png (samples over
// data), trajectories.png (paths from noise to data), trajectory.gif (the whole sample cloud moving
// from noise to data), loss.png, samples.safetensors, metrics.json (sliced Wasserstein distance of
// the samples to fresh data, beside the distance between two fresh data sets — the floor a perfect
// model would reach; reflow adds the straightness and 1- and 2-step distances of both flows), reflow_pairs.safetensors
// (reflow: the pairs the first flow produced, so a resume in the second phase uses the same ones), and checkpoint.safetensors (atomic; also written on Ctrl-C, exit code 130).
// A fresh run refuses an --out that holds a previous run unless --overwrite is given.
// Measured on two moons at the defaults (2 cores; sliced W2 of 2,000 samples to fresh data; a second data set
// scores 0.033, Gaussian noise 0.345): flow 0.106 (100 Euler), ddpm 0.059 (1000 ancestral), ddim 0.089 (100 steps),
// reflow 0.102 (100 Euler); reflow's straightness 0.867 → 0.0016, 1-step 1.021 → 0.103, 2-step 0.532 → 0.104.
// The models are models/FlowMatching/RectifiedFlow.cs and models/Diffusion/{Ddpm,Ddim}.cs; the network
// models/Common/Mlp2D.cs, which reads t as a raw input feature, so DDPM's integer step t ∈ {0 … 999} is fed
// as t/T ∈ [0, 1) (t·1000 or the integer step is for a sinusoidal embedding, as in the UNet); the
// command line, run folder, progress and loop are engine/Cli/.
using System.Diagnostics;
using System.Text.Json;
using Denoise.Cli;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.Optim;
using ToyData = Denoise.Data.Toy2D;

namespace Denoise.Examples;

public static class Toy2DApp
{
    public const string ModelName = "rectified-flow-mlp2d";

    /// <summary>Runs the program; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 interrupted).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null, CancellationToken cancel = default)
    {
        errors ??= output;
        var cli = new OptionParser("toy2d", "rectified flow matching on a 2-D distribution (WORKLOADS M2 network).",
                                   "dotnet run -c Release --project examples/Toy2D -- [options]");
        var common = CommonOptions.Add(cli, new CommonDefaults(
            Data: "moons", DataHelp: "moons | 8gaussians | checkerboard", Steps: 3000, BatchSize: 512, Lr: 1e-3f,
            Out: Path.Combine("runs", "toy2d"), CheckpointEvery: 1000, LogEvery: 100, MinBatchSize: 2,
            ValidateData: name => { try { ToyData.ByName(name, 1, new Generator(0)); return null; } catch (ArgumentException e) { return e.Message; } }));
        var samplesOpt = cli.Int("--samples", 2000, "points to sample at the end", min: 2);
        var samplingStepsOpt = cli.Int("--sampling-steps", 100, "Euler steps (flow, reflow) or DDIM steps (ddim) when sampling; ddpm takes all T = 1000", min: 1, max: 1000);
        var methodOpt = cli.Choice("--method", "flow", "flow (rectified flow) | reflow (flow, then the 2-rectified flow) | ddpm | ddim (DDPM training, DDIM η = 0 sampling)",
                                   "flow", "reflow", "ddpm", "ddim");
        var reflowStepsOpt = cli.Int("--reflow-steps", 2000, "reflow: training steps of the 2-rectified flow after the --steps of the first", min: 0);
        var reflowPairsOpt = cli.Int("--reflow-pairs", 10000, "reflow: (noise, sample) pairs drawn from the first flow", min: 2);
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        string dataName = common.Data.Value;
        int steps = common.Steps.Value, batchSize = common.BatchSize.Value, seed = common.Seed.Value;
        float lr = common.Lr.Value;
        int nSamples = samplesOpt.Value, samplingSteps = samplingStepsOpt.Value;
        string method = methodOpt.Value;
        bool reflow = method == "reflow", diffusion = method is "ddpm" or "ddim";
        int reflowSteps = reflow ? reflowStepsOpt.Value : 0, nPairs = reflowPairsOpt.Value;
        int totalSteps = steps + reflowSteps;

        // The checkpoint must match what shapes the training trajectory; --steps may grow on --resume
        // (for reflow only --reflow-steps: --steps is where the first flow ends and the pairs are drawn).
        // flow keeps the identity it always had, so its older checkpoints still resume.
        string identity = method switch
        {
            "flow" => JsonSerializer.Serialize(new { model = ModelName, Data = dataName, BatchSize = batchSize, Lr = lr, Seed = seed }),
            "reflow" => JsonSerializer.Serialize(new { model = ModelName, Method = method, Data = dataName, BatchSize = batchSize, Lr = lr, Seed = seed,
                                                       FlowSteps = steps, ReflowPairs = nPairs, SamplingSteps = samplingSteps }),
            _ => JsonSerializer.Serialize(new { model = ModelName, Method = method, Data = dataName, BatchSize = batchSize, Lr = lr, Seed = seed }),
        };
        string config = JsonSerializer.Serialize(new { model = ModelName, Method = method, Data = dataName, Steps = steps, BatchSize = batchSize, Lr = lr, Seed = seed,
                                                       Samples = nSamples, SamplingSteps = method == "ddpm" ? 1000 : samplingSteps,
                                                       ReflowSteps = reflow ? reflowSteps : (int?)null, ReflowPairs = reflow ? nPairs : (int?)null });

        // Model, optimizer and the one generator that drives data, noise and times.
        // --device: the network, its optimizer state and every batch live there; noise is drawn there (the
        // same Philox stream on every device); metrics and figures read samples back to the host.
        var device = Device.Parse(common.Device.Value);
        var gen = new Generator((ulong)seed);
        var net = new Mlp2D(gen: gen);
        net.To(device);
        var flow = new RectifiedFlow(net.Forward) { Device = device };
        const int T = 1000;
        var ddpm = new Ddpm(Denoiser.From((x, t, labels) => net.Forward(x, t * (1f / T), labels)), new DdpmConfig(Timesteps: T)) { Device = device };
        var optimizer = new Adam(net.Parameters(), lr: lr);
        var state = new TrainingState(ModelName, net, optimizer, Rng: gen, ConfigJson: identity);

        // Sampling: (generator, onStep) → samples, and how, for titles and messages.
        Sampler MakeSampler(RectifiedFlow f, int flowSteps) => new(
            (g, onStep) => f.Sample([nSamples, 2], flowSteps, g, onStep), $"{flowSteps} Euler step{(flowSteps == 1 ? "" : "s")}");
        Sampler sampler = method switch
        {
            "ddpm" => new((g, onStep) => ddpm.Sample([nSamples, 2], g, onStep: onStep), $"{T} ancestral steps"),
            "ddim" => new((g, onStep) => new Ddim(ddpm, new DdimConfig(samplingSteps)).Sample([nSamples, 2], g, onStep: onStep), $"{samplingSteps} DDIM steps (η = 0)"),
            _ => MakeSampler(flow, samplingSteps),
        };
        string title = method switch { "ddpm" => "DDPM", "ddim" => "DDIM", "reflow" => "2-rectified flow", _ => "Rectified flow" };

        // Everything that can refuse the run happens before the first file is written.
        RunDirectory run;
        int start = 0;
        Dictionary<string, Tensor>? pairs = null;     // reflow: noise, samples and the first flow's figures
        try
        {
            run = RunDirectory.Open(common.Out.Value, common.Resume.Value, common.Overwrite.Value);
            if (run.Resuming)
            {
                try { start = (int)Checkpoint.Load(run.CheckpointPath, state, requireSameConfig: true); }
                catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or ArgumentException or IOException)
                {
                    string why = e.Message.ReplaceLineEndings(" ");
                    throw new UsageException($"--resume: cannot continue from {(why.StartsWith(run.CheckpointPath, StringComparison.Ordinal) ? why : $"{run.CheckpointPath}: {why}")}");
                }
                if (reflow && start > steps)
                {
                    try { pairs = TensorFile.Load(run.File(PairsFile)).Tensors; }
                    catch (Exception e) when (e is SafeTensorsFormatException or ArgumentException or IOException)
                    {
                        throw new UsageException($"--resume: the checkpoint is in the reflow phase but {run.File(PairsFile)} cannot be read: {e.Message.ReplaceLineEndings(" ")}");
                    }
                }
            }
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }

        output.WriteLine($"{(reflow ? "Rectified flow + reflow" : title)} on '{dataName}': MLP-2D with {net.ParameterCount():N0} parameters, batch {batchSize}, Adam lr {lr}, " +
                         (reflow ? $"{steps} + {reflowSteps} reflow steps." : $"{steps} steps."));
        if (run.Resuming) output.WriteLine($"Resumed from {run.CheckpointPath} at step {start}.");
        run.Begin(config, start);

        // Training (Algorithm 1 of flow matching, repeated).
        var losses = new List<float>();
        var clock = Stopwatch.StartNew();
        var progress = new Progress(output, totalSteps, start, batchSize, "points", common.LogEvery.Value);
        LoopResult Train(int from, int to, Func<Tensor> lossOfABatch) => new TrainingLoop
        {
            StartStep = from,
            TotalSteps = to,
            Step = _ =>
            {
                var loss = lossOfABatch();
                optimizer.ZeroGrad();
                loss.Backward();
                optimizer.Step();
                float l = loss.Item();
                losses.Add(l);
                return l;
            },
            SaveCheckpoint = done => Checkpoint.Save(run.CheckpointPath, state, done),
            Progress = progress,
            LogEvery = common.LogEvery.Value,
            CheckpointEvery = common.CheckpointEvery.Value,
            SampleEvery = common.SampleEvery.Value,
            Log = (done, loss, rate) => run.AppendMetrics(new { step = done, loss, steps_per_s = Math.Round(rate, 1) }),
            Sample = done => SampleAndPlot(sampler, title, run, dataName, seed, $" (step {done})", trajectories: false),
            Cancel = cancel,
        }.Run();

        // Algorithm 1 of flow matching or of DDPM, repeated; for reflow, the first flow.
        var result = Train(Math.Min(start, steps), steps, () =>
        {
            var batch = ToyData.ByName(dataName, batchSize, gen).To(device);
            return diffusion ? ddpm.Loss(batch, gen) : flow.Loss(batch, gen);
        });
        if (reflow && result.Outcome == LoopOutcome.Completed)
        {
            // Reflow (Liu et al. §2.2): couple noise with where the first flow takes it, then train the same
            // network on those couplings (the 2-rectified flow starts from the 1-rectified one's weights).
            if (pairs == null)
            {
                var (noiseD, samplesD) = flow.ReflowPairs([nPairs, 2], samplingSteps, new Generator((ulong)seed + 4));
                var (noise, samplesOfFlow1) = (noiseD.To(Device.Cpu), samplesD.To(Device.Cpu));   // kept on the host, saved below
                double s1 = flow.Straightness(StraightnessNoise(nSamples, seed).To(device), samplingSteps);
                double w1 = Swd(MakeSampler(flow, 1).Draw(new Generator((ulong)seed + 1), null).To(Device.Cpu), dataName, seed);
                double w2 = Swd(MakeSampler(flow, 2).Draw(new Generator((ulong)seed + 1), null).To(Device.Cpu), dataName, seed);
                pairs = new Dictionary<string, Tensor>
                {
                    ["noise"] = noise, ["samples"] = samplesOfFlow1,
                    ["straightness"] = Tensor.FromArray([(float)s1], 1), ["sliced_w2_1step"] = Tensor.FromArray([(float)w1], 1),
                    ["sliced_w2_2step"] = Tensor.FromArray([(float)w2], 1),
                };
                TensorFile.Save(run.File(PairsFile), pairs);
                output.WriteLine($"Reflow: {nPairs:N0} pairs from the first flow ({samplingSteps} Euler steps); its straightness {s1:F4}, " +
                                 $"sliced W2 with 1 step {w1:F4}, 2 steps {w2:F4}.");
            }
            var (x0s, x1s) = (pairs["noise"], pairs["samples"]);
            result = Train(Math.Max(start, steps), totalSteps, () =>
            {
                var idx = Tensor.Randint(0, x0s.Shape[0], [batchSize], gen);
                return flow.CouplingLoss(x0s.IndexSelect(0, idx).To(device), x1s.IndexSelect(0, idx).To(device), gen);
            });
        }

        if (result.ReportStop("toy2d", run.CheckpointPath, output, errors) is int stopped) return stopped;
        output.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s; checkpoint {run.CheckpointPath}");

        var (samples, swd) = SampleAndPlot(sampler, title, run, dataName, seed, "", trajectories: true, output);
        object? reflowFigures = null;
        if (reflow)
        {
            double s2 = flow.Straightness(StraightnessNoise(nSamples, seed).To(device), samplingSteps);
            double w1 = Swd(MakeSampler(flow, 1).Draw(new Generator((ulong)seed + 1), null).To(Device.Cpu), dataName, seed);
            double w2 = Swd(MakeSampler(flow, 2).Draw(new Generator((ulong)seed + 1), null).To(Device.Cpu), dataName, seed);
            float F(string k) => pairs![k].ToArray()[0];
            reflowFigures = new
            {
                straightness_1rf = F("straightness"), straightness_2rf = s2,
                sliced_w2_1step_1rf = F("sliced_w2_1step"), sliced_w2_2step_1rf = F("sliced_w2_2step"),
                sliced_w2_1step_2rf = w1, sliced_w2_2step_2rf = w2,
            };
            output.WriteLine($"Straightness: first flow {F("straightness"):F4} → 2-rectified {s2:F4}. Sliced W2 in 1 | 2 Euler steps: " +
                             $"first flow {F("sliced_w2_1step"):F4} | {F("sliced_w2_2step"):F4}, 2-rectified {w1:F4} | {w2:F4}.");
        }
        if (losses.Count > 0)
            Plot.Lines(run.File("loss.png"), [new LineSeries("loss", losses.ToArray(), (214, 39, 40), Enumerable.Range(start + 1, losses.Count).Select(i => (float)i).ToArray())],
                diffusion ? "DDPM loss (ε-prediction)" : reflow ? $"Flow-matching loss (reflow from step {steps})" : "Flow-matching loss", "step", "MSE", logY: true, smoothWindow: 50);
        TensorFile.Save(run.File("samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = samples });
        AtomicFile.WriteAllBytes(run.File("metrics.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            method, sampler = sampler.How,
            sliced_w2_samples = swd.Model, sliced_w2_data_floor = swd.Floor, sliced_w2_noise = swd.Noise,
            final_loss = losses.Count > 0 ? losses.Skip(Math.Max(0, losses.Count - 100)).Average() : float.NaN,
            reflow = reflowFigures,
        }, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        output.WriteLine($"Wrote {run.File("samples.png")}, trajectories.png, trajectory.gif, loss.png, metrics.json");
        return 0;
    }

    const string PairsFile = "reflow_pairs.safetensors";

    /// <summary>A sampler from noise to data: Draw(generator, onStep(steps done, x)) → (n, 2), and how it samples.</summary>
    sealed record Sampler(Func<Generator, Action<int, Tensor>?, Tensor> Draw, string How);

    /// <summary>The noise the straightness is measured from, the same before and after reflow.</summary>
    static Tensor StraightnessNoise(int n, int seed) => Tensor.Randn([n, 2], new Generator((ulong)seed + 5));

    /// <summary>Sliced W2 of samples to the fresh data set SampleAndPlot compares with.</summary>
    static double Swd(Tensor samples, string dataName, int seed) =>
        SampleDistances.SlicedWasserstein(samples, ToyData.ByName(dataName, samples.Shape[0], new Generator((ulong)seed + 2)));

    /// <summary>
    /// The method's Algorithm 2 (from noise to data) with its own generator, so sampling never disturbs training;
    /// writes samples.png and, at the end, trajectories.png and trajectory.gif.
    /// </summary>
    static (Tensor Samples, (double Model, double Floor, double Noise) Swd) SampleAndPlot(
        Sampler sampler, string title, RunDirectory run, string dataName, int seed, string when,
        bool trajectories, TextWriter? output = null)
    {
        var sampleGen = new Generator((ulong)seed + 1);
        var paths = new List<float[]>();   // x after each step, (n, 2) flattened
        var sw = Stopwatch.StartNew();
        var samples = sampler.Draw(sampleGen, (i, x) => { if (trajectories) paths.Add(x.ToArray()); }).To(Device.Cpu);
        int n = samples.Shape[0];
        output?.WriteLine($"Sampled {n} points with {sampler.How} in {sw.Elapsed.TotalMilliseconds:F0} ms.");

        var data = ToyData.ByName(dataName, n, new Generator((ulong)seed + 2));
        var data2 = ToyData.ByName(dataName, n, new Generator((ulong)seed + 3));
        double swdModel = SampleDistances.SlicedWasserstein(samples, data);
        double swdFloor = SampleDistances.SlicedWasserstein(data2, data);
        double swdNoise = SampleDistances.SlicedWasserstein(Tensor.Randn([n, 2], new Generator(99)), data);
        output?.WriteLine($"Sliced W2 to fresh data: samples {swdModel:F4} | another data set {swdFloor:F4} | Gaussian noise {swdNoise:F4}");

        float[] dx = Col(data, 0), dy = Col(data, 1);
        Plot.Scatter(run.File("samples.png"),
            [new ScatterSeries("data", dx, dy, (170, 170, 170)), new ScatterSeries("samples", Col(samples, 0), Col(samples, 1), (31, 119, 180))],
            $"{title} on {dataName}: {sampler.How}{when}");
        if (!trajectories) return (samples, (swdModel, swdFloor, swdNoise));

        // 64 paths, every tenth of the way, over the data.
        int nTraj = Math.Min(64, n);
        var trajSeries = new List<ScatterSeries> { new("data", dx, dy, (200, 200, 200)) };
        int every = Math.Max(1, paths.Count / 10);
        for (int k = 0; k < paths.Count; k += every)
            trajSeries.Add(new ScatterSeries($"{(k + 1) / (float)paths.Count:F1} of the way",
                Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i]).ToArray(), Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i + 1]).ToArray(),
                Plot.Palette[(k / every) % Plot.Palette.Count]));
        Plot.Scatter(run.File("trajectories.png"), trajSeries, $"{nTraj} sample paths from noise to data ({sampler.How})");

        WriteTrajectoryGif(run.File("trajectory.gif"), paths, dx, dy);
        return (samples, (swdModel, swdFloor, swdNoise));
    }

    /// <summary>The sample cloud at up to 40 evenly spaced sampling steps, on fixed axes, the last frame held ~1 s.</summary>
    static void WriteTrajectoryGif(string path, List<float[]> paths, float[] dx, float[] dy)
    {
        // Fixed axes: the data's bounds and the middle 98% of the starting noise, so no frame jumps.
        var xs = paths.SelectMany(p => Enumerable.Range(0, p.Length / 2).Select(i => p[2 * i])).Concat(dx).Where(float.IsFinite).Order().ToArray();
        var ys = paths.SelectMany(p => Enumerable.Range(0, p.Length / 2).Select(i => p[2 * i + 1])).Concat(dy).Where(float.IsFinite).Order().ToArray();
        if (xs.Length == 0 || ys.Length == 0) return;   // nothing drawable (a diverged sampler)
        (float, float) Limits(float[] sorted)
        {
            float lo = sorted[(int)(0.01 * (sorted.Length - 1))], hi = sorted[(int)(0.99 * (sorted.Length - 1))];
            float pad = 0.05f * Math.Max(hi - lo, 1e-3f);
            return (lo - pad, hi + pad);
        }
        var (xl, yl) = (Limits(xs), Limits(ys));

        const int MaxFrames = 40, HoldLast = 12;
        var frames = new List<Canvas>();
        foreach (int k in Enumerable.Range(0, MaxFrames).Select(f => (int)Math.Round(f * (paths.Count - 1) / (double)(MaxFrames - 1))).Distinct())
        {
            var p = paths[k];
            var sx = Enumerable.Range(0, p.Length / 2).Select(i => p[2 * i]).ToArray();
            var sy = Enumerable.Range(0, p.Length / 2).Select(i => p[2 * i + 1]).ToArray();
            frames.Add(Plot.RenderScatter(
                [new ScatterSeries("data", dx, dy, (200, 200, 200)), new ScatterSeries("samples", sx, sy, (31, 119, 180))],
                $"step {k + 1} of {paths.Count}", 400, 400, xl, yl));
        }
        for (int i = 0; i < HoldLast; i++) frames.Add(frames[^1]);
        Gif.Write(path, frames, delayMs: 80);
    }

    static float[] Col(Tensor t, int c) => t.Select(1, c).ToArray();
}
