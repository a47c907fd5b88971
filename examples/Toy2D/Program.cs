// Toy2D — rectified flow matching on a 2-D distribution with the WORKLOADS M2 MLP.
//
//   dotnet run -c Release --project examples/Toy2D                       two moons, 3,000 steps (< 1 min on 2 cores)
//   dotnet run -c Release --project examples/Toy2D -- --data 8gaussians --steps 5000 --out runs/8g
//   dotnet run -c Release --project examples/Toy2D -- --resume           continue from runs/toy2d/checkpoint.safetensors
//
// Writes into --out: config.json, metrics.jsonl (loss per logged step), samples.png (samples over
// data), trajectories.png (paths from noise to data), loss.png, samples.safetensors, metrics.json
// (sliced Wasserstein distance of the samples to fresh data, beside the distance between two fresh
// data sets — the floor a perfect model would reach), and checkpoint.safetensors (atomic).
// The model is models/FlowMatching/RectifiedFlow.cs; the network models/Common/Mlp2D.cs.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Denoise;
using Denoise.Data;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Common;
using Denoise.Models.FlowMatching;
using Denoise.Optim;

var inv = CultureInfo.InvariantCulture;
Options opt;
try { opt = Options.Parse(args); }
catch (ArgumentException e) { Console.Error.WriteLine($"toy2d: {e.Message}"); return 2; }
if (opt.Help) { Console.WriteLine(Options.Usage); return 0; }

Directory.CreateDirectory(opt.Out);
var checkpointPath = Path.Combine(opt.Out, "checkpoint.safetensors");
var config = JsonSerializer.Serialize(new { model = "rectified-flow-mlp2d", opt.Data, opt.Steps, opt.BatchSize, opt.Lr, opt.Seed });

// Model, optimizer and the one generator that drives data, noise and times.
var gen = new Generator((ulong)opt.Seed);
var net = new Mlp2D(gen: gen);
var flow = new RectifiedFlow(net.Forward);
var optimizer = new Adam(net.Parameters(), lr: opt.Lr);
var state = new TrainingState("rectified-flow-mlp2d", net, optimizer, Rng: gen, ConfigJson: config);
Console.WriteLine($"Rectified flow on '{opt.Data}': MLP-2D with {net.ParameterCount():N0} parameters, batch {opt.BatchSize}, Adam lr {opt.Lr}, {opt.Steps} steps.");

int start = 0;
if (opt.Resume)
{
    if (!File.Exists(checkpointPath)) { Console.Error.WriteLine($"toy2d: --resume: no checkpoint at {checkpointPath}"); return 2; }
    try { start = (int)Checkpoint.Load(checkpointPath, state, requireSameConfig: true); }
    catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or ArgumentException)
    { Console.Error.WriteLine($"toy2d: cannot resume: {e.Message}"); return 2; }
    Console.WriteLine($"Resumed from {checkpointPath} at step {start}.");
}
else File.WriteAllText(Path.Combine(opt.Out, "config.json"), config);

// Training (Algorithm 1 of flow matching, repeated).
var losses = new List<float>();
using var log = new StreamWriter(Path.Combine(opt.Out, "metrics.jsonl"), append: opt.Resume);
var clock = Stopwatch.StartNew();
bool interactive = !Console.IsOutputRedirected;
for (int step = start; step < opt.Steps; step++)
{
    using (var scope = TensorScope.Begin())
    {
        var batch = Toy2D.ByName(opt.Data, opt.BatchSize, gen);
        var loss = flow.Loss(batch, gen);
        optimizer.ZeroGrad();
        loss.Backward();
        optimizer.Step();
        float l = loss.Item();
        losses.Add(l);
        if (!float.IsFinite(l)) { Console.Error.WriteLine($"toy2d: loss became {l} at step {step + 1}; stopping."); return 1; }
    }
    bool last = step + 1 == opt.Steps;
    if ((step + 1) % opt.LogEvery == 0 || last)
    {
        double rate = (step + 1 - start) / clock.Elapsed.TotalSeconds;
        double eta = (opt.Steps - step - 1) / rate;
        float avg = losses.Skip(Math.Max(0, losses.Count - opt.LogEvery)).Average();
        string line = $"step {step + 1,6}/{opt.Steps}  loss {avg:F4}  {rate:F0} steps/s  {rate * opt.BatchSize:F0} points/s  ETA {eta:F0}s";
        if (interactive && !last) Console.Write("\r" + line); else Console.WriteLine((interactive ? "\r" : "") + line);
        log.WriteLine(string.Create(inv, $"{{\"step\":{step + 1},\"loss\":{avg},\"steps_per_s\":{rate:F1}}}"));
        log.Flush();
    }
    if ((step + 1) % opt.CheckpointEvery == 0 || last) Checkpoint.Save(checkpointPath, state, step + 1);
}
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s; checkpoint {checkpointPath}");

// Sampling (Algorithm 2): Euler steps from noise, remembering a few paths for the trajectory plot.
var sampleGen = new Generator((ulong)opt.Seed + 1);
int nTraj = 64;
var paths = new List<float[]>();
var sw = Stopwatch.StartNew();
var samples = flow.Sample([opt.Samples, 2], opt.SamplingSteps, sampleGen, (i, x) => paths.Add(x.Narrow(0, 0, nTraj).ToArray()));
Console.WriteLine($"Sampled {opt.Samples} points with {opt.SamplingSteps} Euler steps in {sw.Elapsed.TotalMilliseconds:F0} ms.");

var data = Toy2D.ByName(opt.Data, opt.Samples, new Generator((ulong)opt.Seed + 2));
var data2 = Toy2D.ByName(opt.Data, opt.Samples, new Generator((ulong)opt.Seed + 3));
double swdModel = SampleDistances.SlicedWasserstein(samples, data);
double swdFloor = SampleDistances.SlicedWasserstein(data2, data);
double swdNoise = SampleDistances.SlicedWasserstein(Tensor.Randn([opt.Samples, 2], new Generator(99)), data);
Console.WriteLine($"Sliced W2 to fresh data: samples {swdModel:F4} | another data set {swdFloor:F4} | Gaussian noise {swdNoise:F4}");

float[] Col(Tensor t, int c) => t.Select(1, c).ToArray();
Plot.Scatter(Path.Combine(opt.Out, "samples.png"),
    [new ScatterSeries("data", Col(data, 0), Col(data, 1), (170, 170, 170)), new ScatterSeries("samples", Col(samples, 0), Col(samples, 1), (31, 119, 180))],
    $"Rectified flow on {opt.Data}: {opt.SamplingSteps} Euler steps");
var trajSeries = new List<ScatterSeries> { new("data", Col(data, 0), Col(data, 1), (200, 200, 200)) };
for (int k = 0; k < paths.Count; k += Math.Max(1, paths.Count / 10))
    trajSeries.Add(new ScatterSeries($"t={(k + 1) / (float)opt.SamplingSteps:F1}",
        Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i]).ToArray(), Enumerable.Range(0, nTraj).Select(i => paths[k][2 * i + 1]).ToArray(),
        Plot.Palette[(k / Math.Max(1, paths.Count / 10)) % Plot.Palette.Count]));
Plot.Scatter(Path.Combine(opt.Out, "trajectories.png"), trajSeries, "64 sample paths from noise (t=0) to data (t=1)");
if (losses.Count > 0)
    Plot.Lines(Path.Combine(opt.Out, "loss.png"), [new LineSeries("loss", losses.ToArray(), (214, 39, 40), Enumerable.Range(start + 1, losses.Count).Select(i => (float)i).ToArray())],
        "Flow-matching loss", "step", "MSE", logY: true, smoothWindow: 50);
TensorFile.Save(Path.Combine(opt.Out, "samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = samples });
File.WriteAllText(Path.Combine(opt.Out, "metrics.json"), JsonSerializer.Serialize(new
{
    sliced_w2_samples = swdModel, sliced_w2_data_floor = swdFloor, sliced_w2_noise = swdNoise,
    final_loss = losses.Count > 0 ? losses.Skip(Math.Max(0, losses.Count - 100)).Average() : float.NaN,
}));
Console.WriteLine($"Wrote {Path.Combine(opt.Out, "samples.png")}, trajectories.png, loss.png, metrics.json");
return 0;

sealed record Options(string Data, int Steps, int BatchSize, float Lr, int Seed, string Device, string Out, bool Resume,
    int Samples, int SamplingSteps, int LogEvery, int CheckpointEvery, bool Help)
{
    public const string Usage = """
        Toy2D: rectified flow matching on a 2-D distribution (WORKLOADS M2 network).
        Usage: dotnet run -c Release --project examples/Toy2D -- [options]
          --data NAME            moons | 8gaussians | checkerboard       (default moons)
          --steps N              training steps                          (default 3000)
          --batch-size N         points per step                         (default 512)
          --lr X                 Adam learning rate                      (default 0.001)
          --seed N               seed for init, data, noise              (default 0)
          --device NAME          cpu                                     (default cpu)
          --out DIR              output folder                           (default runs/toy2d)
          --resume               continue from DIR/checkpoint.safetensors
          --samples N            points to sample at the end             (default 2000)
          --sampling-steps N     Euler steps when sampling               (default 100)
          --sample-every N       (accepted for CLI uniformity; sampling happens at the end)
          --log-every N          progress line interval                  (default 100)
          --checkpoint-every N   checkpoint interval                     (default 1000)
          --help                 this text
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options("moons", 3000, 512, 1e-3f, 0, "cpu", Path.Combine("runs", "toy2d"), false, 2000, 100, 100, 1000, false);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {a} needs a value.");
            int Int(int min) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min ? v
                : throw new ArgumentException($"option {a} needs an integer ≥ {min}, got '{args[i]}'.");
            o = a switch
            {
                "--data" => o with { Data = Value() },
                "--steps" => o with { Steps = Int(1) },
                "--batch-size" => o with { BatchSize = Int(2) },
                "--lr" => o with { Lr = float.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var lr) && lr > 0 && float.IsFinite(lr) ? lr : throw new ArgumentException($"--lr needs a positive number, got '{args[i]}'.") },
                "--seed" => o with { Seed = Int(0) },
                "--device" => o with { Device = Value() },
                "--out" => o with { Out = Value() },
                "--resume" => o with { Resume = true },
                "--samples" => o with { Samples = Int(2) },
                "--sampling-steps" => o with { SamplingSteps = Int(1) },
                "--sample-every" => o with { LogEvery = o.LogEvery + 0 * Int(1) },
                "--log-every" => o with { LogEvery = Int(1) },
                "--checkpoint-every" => o with { CheckpointEvery = Int(1) },
                "--help" or "-h" => o with { Help = true },
                _ => throw new ArgumentException($"unknown option '{a}' (see --help)."),
            };
        }
        Toy2D.ByName(o.Data, 1, new Generator(0)); // validates the name with a clear message
        Denoise.Device.Parse(o.Device);
        return o;
    }
}
