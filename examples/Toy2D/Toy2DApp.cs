// Toy2D — rectified flow matching on a 2-D distribution with the WORKLOADS M2 MLP.
//
//   dotnet run -c Release --project examples/Toy2D                       two moons, 3,000 steps (< 1 min on 2 cores)
//   dotnet run -c Release --project examples/Toy2D -- --data 8gaussians --steps 5000 --out runs/8g
//   dotnet run -c Release --project examples/Toy2D -- --resume           continue from runs/toy2d/checkpoint.safetensors
//   dotnet run -c Release --project examples/Toy2D -- --help
//
// Writes into --out: config.json, metrics.jsonl (loss per logged step), samples.png (samples over
// data), trajectories.png (paths from noise to data), trajectory.gif (the whole sample cloud moving
// from noise to data), loss.png, samples.safetensors, metrics.json (sliced Wasserstein distance of
// the samples to fresh data, beside the distance between two fresh data sets — the floor a perfect
// model would reach), and checkpoint.safetensors (atomic; also written on Ctrl-C, exit code 130).
// A fresh run refuses an --out that holds a previous run unless --overwrite is given.
// The model is models/FlowMatching/RectifiedFlow.cs; the network models/Common/Mlp2D.cs; the
// command line, run folder, progress and loop are engine/Cli/.
using System.Diagnostics;
using System.Text.Json;
using Denoise.Cli;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Common;
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
        var samplingStepsOpt = cli.Int("--sampling-steps", 100, "Euler steps when sampling", min: 1);
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        string dataName = common.Data.Value;
        int steps = common.Steps.Value, batchSize = common.BatchSize.Value, seed = common.Seed.Value;
        float lr = common.Lr.Value;
        int nSamples = samplesOpt.Value, samplingSteps = samplingStepsOpt.Value;

        // The checkpoint must match what shapes the training trajectory; --steps may grow on --resume.
        string identity = JsonSerializer.Serialize(new { model = ModelName, Data = dataName, BatchSize = batchSize, Lr = lr, Seed = seed });
        string config = JsonSerializer.Serialize(new { model = ModelName, Data = dataName, Steps = steps, BatchSize = batchSize, Lr = lr, Seed = seed,
                                                       Samples = nSamples, SamplingSteps = samplingSteps });

        // Model, optimizer and the one generator that drives data, noise and times.
        var gen = new Generator((ulong)seed);
        var net = new Mlp2D(gen: gen);
        var flow = new RectifiedFlow(net.Forward);
        var optimizer = new Adam(net.Parameters(), lr: lr);
        var state = new TrainingState(ModelName, net, optimizer, Rng: gen, ConfigJson: identity);

        // Everything that can refuse the run happens before the first file is written.
        RunDirectory run;
        int start = 0;
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
            }
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }

        output.WriteLine($"Rectified flow on '{dataName}': MLP-2D with {net.ParameterCount():N0} parameters, batch {batchSize}, Adam lr {lr}, {steps} steps.");
        if (run.Resuming) output.WriteLine($"Resumed from {run.CheckpointPath} at step {start}.");
        run.Begin(config, start);

        // Training (Algorithm 1 of flow matching, repeated).
        var losses = new List<float>();
        var clock = Stopwatch.StartNew();
        var progress = new Progress(output, steps, start, batchSize, "points", common.LogEvery.Value);
        var result = new TrainingLoop
        {
            StartStep = start,
            TotalSteps = steps,
            Step = _ =>
            {
                var batch = ToyData.ByName(dataName, batchSize, gen);
                var loss = flow.Loss(batch, gen);
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
            Sample = done => SampleAndPlot(flow, run, dataName, nSamples, samplingSteps, seed, $" (step {done})", trajectories: false),
            Cancel = cancel,
        }.Run();

        if (result.ReportStop("toy2d", run.CheckpointPath, output, errors) is int stopped) return stopped;
        output.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s; checkpoint {run.CheckpointPath}");

        var (samples, swd) = SampleAndPlot(flow, run, dataName, nSamples, samplingSteps, seed, "", trajectories: true, output);
        if (losses.Count > 0)
            Plot.Lines(run.File("loss.png"), [new LineSeries("loss", losses.ToArray(), (214, 39, 40), Enumerable.Range(start + 1, losses.Count).Select(i => (float)i).ToArray())],
                "Flow-matching loss", "step", "MSE", logY: true, smoothWindow: 50);
        TensorFile.Save(run.File("samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = samples });
        AtomicFile.WriteAllBytes(run.File("metrics.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            sliced_w2_samples = swd.Model, sliced_w2_data_floor = swd.Floor, sliced_w2_noise = swd.Noise,
            final_loss = losses.Count > 0 ? losses.Skip(Math.Max(0, losses.Count - 100)).Average() : float.NaN,
        }, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        output.WriteLine($"Wrote {run.File("samples.png")}, trajectories.png, trajectory.gif, loss.png, metrics.json");
        return 0;
    }

    /// <summary>
    /// Algorithm 2 (Euler steps from noise) with its own generator, so sampling never disturbs training;
    /// writes samples.png and, at the end, trajectories.png and trajectory.gif.
    /// </summary>
    static (Tensor Samples, (double Model, double Floor, double Noise) Swd) SampleAndPlot(
        RectifiedFlow flow, RunDirectory run, string dataName, int n, int samplingSteps, int seed, string when,
        bool trajectories, TextWriter? output = null)
    {
        var sampleGen = new Generator((ulong)seed + 1);
        var paths = new List<float[]>();   // x after each Euler step, (n, 2) flattened
        var sw = Stopwatch.StartNew();
        var samples = flow.Sample([n, 2], samplingSteps, sampleGen, (i, x) => { if (trajectories) paths.Add(x.ToArray()); });
        output?.WriteLine($"Sampled {n} points with {samplingSteps} Euler steps in {sw.Elapsed.TotalMilliseconds:F0} ms.");

        var data = ToyData.ByName(dataName, n, new Generator((ulong)seed + 2));
        var data2 = ToyData.ByName(dataName, n, new Generator((ulong)seed + 3));
        double swdModel = SampleDistances.SlicedWasserstein(samples, data);
        double swdFloor = SampleDistances.SlicedWasserstein(data2, data);
        double swdNoise = SampleDistances.SlicedWasserstein(Tensor.Randn([n, 2], new Generator(99)), data);
        output?.WriteLine($"Sliced W2 to fresh data: samples {swdModel:F4} | another data set {swdFloor:F4} | Gaussian noise {swdNoise:F4}");

        float[] dx = Col(data, 0), dy = Col(data, 1);
        Plot.Scatter(run.File("samples.png"),
            [new ScatterSeries("data", dx, dy, (170, 170, 170)), new ScatterSeries("samples", Col(samples, 0), Col(samples, 1), (31, 119, 180))],
            $"Rectified flow on {dataName}: {samplingSteps} Euler steps{when}");
        if (!trajectories) return (samples, (swdModel, swdFloor, swdNoise));

        // 64 paths, every tenth of the way, over the data.
        int nTraj = Math.Min(64, n);
        var trajSeries = new List<ScatterSeries> { new("data", dx, dy, (200, 200, 200)) };
        int every = Math.Max(1, paths.Count / 10);
        for (int k = 0; k < paths.Count; k += every)
            trajSeries.Add(new ScatterSeries($"t={(k + 1) / (float)samplingSteps:F1}",
                Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i]).ToArray(), Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i + 1]).ToArray(),
                Plot.Palette[(k / every) % Plot.Palette.Count]));
        Plot.Scatter(run.File("trajectories.png"), trajSeries, $"{nTraj} sample paths from noise (t=0) to data (t=1)");

        WriteTrajectoryGif(run.File("trajectory.gif"), paths, dx, dy, samplingSteps);
        return (samples, (swdModel, swdFloor, swdNoise));
    }

    /// <summary>The sample cloud at up to 40 evenly spaced Euler steps, on fixed axes, the last frame held ~1 s.</summary>
    static void WriteTrajectoryGif(string path, List<float[]> paths, float[] dx, float[] dy, int samplingSteps)
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
                $"t = {(k + 1) / (float)samplingSteps:F2}", 400, 400, xl, yl));
        }
        for (int i = 0; i < HoldLast; i++) frames.Add(frames[^1]);
        Gif.Write(path, frames, delayMs: 80);
    }

    static float[] Col(Tensor t, int c) => t.Select(1, c).ToArray();
}
