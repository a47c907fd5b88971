// Diffusion — class-conditional image generation with the shared UNet (WORKLOADS M1 + a label embedding):
// DDPM, DDIM, rectified flow and reflow, with classifier-free guidance and EMA weights.
//
//   dotnet run -c Release --project examples/Diffusion -- --method ddim --steps 2000 --guidance 2
//   dotnet run -c Release --project examples/Diffusion -- --method reflow --sampling-steps 2
//   dotnet run -c Release --project examples/Diffusion -- --time-step        one M1 training step at B = 64
//
// Data: IImageDataset (ImageDataset.cs). Until the MNIST loader lands this trains on SyntheticStrokes,
// a procedurally drawn STAND-IN, not MNIST; swap the one line marked "dataset" when it does.
// Writes into --out: grid.png (one row per class), trajectory.png (one sample per class from noise to
// image, left to right), loss.png, and for ddpm/ddim inpaint.png (rows: original, masked, inpainted)
// and for ddim interpolation.png (slerp between two noises, per class).
// Speed (measured with --time-step on 2 shared cores, before the faster conv/GroupNorm kernels): one M1
// step at B = 64 takes ≈ 6.5 s, so the defaults (2,000 steps) are hours today; for a quick look use
// --base-channels 8 --batch 16 --steps 300 (≈ 0.5 s/step). DDPM sampling runs all 1,000 steps — prefer ddim.
// Models: models/Diffusion/{Ddpm,Ddim}.cs, models/FlowMatching/RectifiedFlow.cs, models/Common/UNet.cs.
using System.Diagnostics;
using System.Globalization;
using Denoise;
using Denoise.Examples.Diffusion;
using Denoise.IO;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.Optim;

var o = Options.Parse(args);
if (o == null) { Console.WriteLine(Options.Usage); return 0; }
if (o.TimeStep) { TimeM1Step(); return 0; }

IImageDataset data = new SyntheticStrokes();                                    // dataset: replace with MNIST when it lands
Directory.CreateDirectory(o.Out);
var gen = new Generator((ulong)o.Seed);
bool isFlow = o.Method is "flow" or "reflow";
var unetConfig = new UNetConfig(ImageSize: data.Size, BaseChannels: o.BaseChannels, NumClasses: data.NumClasses,
    TimeScale: isFlow ? 1000f : 1f);                                             // flows pass t ∈ [0, 1]; DDPM passes 0…T−1
var net = new UNet(unetConfig, gen);
var ema = new Ema(net.Parameters(), decay: 0.999f);
Console.WriteLine($"{o.Method} on {data.Name}: UNet with {net.ParameterCount():N0} parameters, batch {o.Batch}, {o.Steps} steps.");

var ddpm = new Ddpm(net, new DdpmConfig(NumClasses: data.NumClasses, LabelDropout: 0.1f, ClipX0: 1f), ema);
var flow = new RectifiedFlow(net, new FlowConfig(NumClasses: data.NumClasses, Solver: o.Heun ? OdeSolver.Heun : OdeSolver.Euler), ema);
var losses = Train(o.Steps, (x, y) => isFlow ? flow.Loss(x, gen, y) : ddpm.Loss(x, gen, y), "train");

if (o.Method == "reflow")
{
    // 2-rectified flow: couple noise with the samples the trained flow makes from it, then train on those pairs.
    Console.WriteLine($"reflow: generating {o.ReflowPairs} (noise, sample) pairs with 50 Euler steps…");
    var pairIds = Enumerable.Range(0, o.ReflowPairs).Select(i => i % data.NumClasses).ToArray();
    var pairLabels = Tensor.FromArray(pairIds, o.ReflowPairs);
    var probe = Tensor.Randn([64, 1, data.Size, data.Size], new Generator(7));
    var probeLabels = pairLabels.Narrow(0, 0, 64).Contiguous();
    double before = flow.Straightness(probe, 20, probeLabels);
    var (noise, samples) = flow.ReflowPairs([o.ReflowPairs, 1, data.Size, data.Size], 50, gen, pairLabels, o.Guidance);
    losses.AddRange(Train(o.ReflowSteps, (_, _) =>
    {
        var idx = Tensor.Randint(0, o.ReflowPairs, [o.Batch], gen);
        var batchLabels = Tensor.FromArray(idx.ToIntArray().Select(i => pairIds[i]).ToArray(), o.Batch);   // (index_select is float-only)
        return flow.CouplingLoss(noise.IndexSelect(0, idx), samples.IndexSelect(0, idx), gen, batchLabels);
    }, "reflow"));
    Console.WriteLine($"straightness {before:F4} → {flow.Straightness(probe, 20, probeLabels):F4}");
}

// One row per class, eight samples each; the trajectory follows the first sample of every row.
int perClass = 8, n = perClass * data.NumClasses;
var labels = Tensor.FromArray(Enumerable.Range(0, n).Select(i => i / perClass).ToArray(), n);
var snapshots = new List<Tensor>();
int totalSteps = o.Method == "ddpm" ? ddpm.Schedule.T : o.SamplingSteps, every = Math.Max(1, totalSteps / 8);
void Snapshot(int step, Tensor x)
{
    if (step % every != 0 && step != totalSteps) return;
    using (TensorScope.Suspend()) snapshots.Add(x.IndexSelect(0, FirstOfEachClass()).Contiguous());   // outlives the sampler's step scope
}
Tensor FirstOfEachClass() => Tensor.FromArray(Enumerable.Range(0, data.NumClasses).Select(c => c * perClass).ToArray(), data.NumClasses);

var watch = Stopwatch.StartNew();
var shape = new[] { n, 1, data.Size, data.Size };
var ddim = new Ddim(ddpm, new DdimConfig(Steps: Math.Min(o.SamplingSteps, ddpm.Schedule.T)));
var grid = o.Method switch
{
    "ddpm" => ddpm.Sample(shape, gen, labels, o.Guidance, Snapshot),
    "ddim" => ddim.Sample(shape, gen, labels, o.Guidance, Snapshot),
    _ => flow.Sample(shape, o.SamplingSteps, gen, Snapshot, labels, o.Guidance),
};
Console.WriteLine($"sampled {n} images in {watch.Elapsed.TotalSeconds:F1} s ({totalSteps} steps, guidance {o.Guidance})");
Images.WriteGrid(Path.Combine(o.Out, "grid.png"), grid, perClass);
var trajectory = Tensor.Stack(snapshots.ToArray(), 1).Reshape(-1, 1, data.Size, data.Size);   // (classes · snapshots, 1, S, S)
Images.WriteGrid(Path.Combine(o.Out, "trajectory.png"), trajectory, snapshots.Count);
Plot.Lines(Path.Combine(o.Out, "loss.png"), [new LineSeries("loss", losses.ToArray(), Plot.Palette[0])], $"{o.Method} training loss",
    "step", "MSE", logY: true, smoothWindow: 50);

if (o.Method is "ddpm" or "ddim")
{
    // Inpainting: keep the left half of real images, generate the right half with their labels.
    var (real, realLabels) = data.Batch(data.NumClasses, new Generator(11));
    var mask = Tensor.FromArray(Enumerable.Range(0, data.Size * data.Size).Select(p => p % data.Size < data.Size / 2 ? 1f : 0f).ToArray(),
        1, 1, data.Size, data.Size);
    var filled = ddpm.Inpaint(real, mask, gen, realLabels, o.Guidance);
    Images.WriteGrid(Path.Combine(o.Out, "inpaint.png"), Tensor.Cat([real, real * mask + (mask - 1f), filled], 0), data.NumClasses);
}
if (o.Method == "ddim")
{
    var a = Tensor.Randn([1, 1, data.Size, data.Size], new Generator(21));
    var b = Tensor.Randn([1, 1, data.Size, data.Size], new Generator(22));
    var rows = Enumerable.Range(0, data.NumClasses).Select(c => ddim.Interpolate(a, b, 8, Tensor.FromArray([c], 1), o.Guidance)).ToArray();
    Images.WriteGrid(Path.Combine(o.Out, "interpolation.png"), Tensor.Cat(rows, 0), 8);
}
Console.WriteLine($"wrote {o.Out}/grid.png, trajectory.png, loss.png{(o.Method is "ddpm" or "ddim" ? ", inpaint.png" : "")}{(o.Method == "ddim" ? ", interpolation.png" : "")}");
return 0;

List<float> Train(int steps, Func<Tensor, Tensor, Tensor> loss, string phase)
{
    var opt = new AdamW(net.Parameters(), lr: o.Lr, weightDecay: 0f);
    var history = new List<float>();
    var clock = Stopwatch.StartNew();
    for (int step = 1; step <= steps; step++)
    {
        using var scope = TensorScope.Begin();
        var (x, y) = data.Batch(o.Batch, gen);
        var l = loss(x, y);
        opt.ZeroGrad(); l.Backward(); opt.Step(); ema.Update();
        history.Add(l.Item());
        if (step % 50 == 0 || step == steps)
            Console.WriteLine($"{phase} step {step}/{steps}  loss {history.TakeLast(50).Average():F4}  {clock.Elapsed.TotalSeconds / step * 1000:F0} ms/step");
    }
    return history;
}

// WORKLOADS M1 "step": forward + loss + backward + AdamW(2e-4) at B = 64, unconditional, after warm-up; median of timed steps.
static void TimeM1Step()
{
    var g = new Generator(0);
    var unet = new UNet(UNetConfig.M1(), g);
    var model = new Ddpm(unet, new DdpmConfig(LabelDropout: 0f));
    var opt = new AdamW(unet.Parameters(), lr: 2e-4f, weightDecay: 0f);
    var x = Tensor.Randn([64, 1, 28, 28], g);
    var times = new List<double>();
    for (int i = 0; i < 8; i++)
    {
        var sw = Stopwatch.StartNew();
        using (var scope = TensorScope.Begin())
        {
            var loss = model.Loss(x, g);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
        if (i >= 2) times.Add(sw.Elapsed.TotalMilliseconds);       // two warm-up steps (JIT, pool)
        Console.WriteLine($"step {i}: {sw.Elapsed.TotalMilliseconds:F0} ms{(i < 2 ? " (warm-up)" : "")}");
    }
    times.Sort();
    Console.WriteLine($"M1 training step, B = 64, {unet.ParameterCount():N0} parameters: median {times[times.Count / 2]:F0} ms " +
        $"(min {times[0]:F0}, max {times[^1]:F0}) on {Environment.ProcessorCount} cores");
}

sealed record Options(string Method, int Steps, int Batch, float Lr, float Guidance, int SamplingSteps, int BaseChannels,
    int ReflowPairs, int ReflowSteps, bool Heun, int Seed, string Out, bool TimeStep)
{
    public const string Usage = """
        usage: Diffusion [--method ddpm|ddim|flow|reflow] [--steps N] [--batch N] [--lr X] [--guidance W]
                         [--sampling-steps N] [--base-channels N] [--heun] [--reflow-pairs N] [--reflow-steps N]
                         [--seed N] [--out DIR] [--time-step]
          --guidance W        classifier-free guidance scale (0 unconditional, 1 conditional, >1 guided; default 2)
          --sampling-steps N  DDIM steps or ODE steps (ddpm always runs all T = 1000; default 50, reflow 2)
          --time-step         time one WORKLOADS M1 training step at B = 64 and exit
        """;

    public static Options? Parse(string[] args)
    {
        var d = new Dictionary<string, string>();
        var flags = new HashSet<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "-h" or "--help") return null;
            if (args[i] is "--heun" or "--time-step") { flags.Add(args[i]); continue; }
            if (!args[i].StartsWith("--") || i + 1 >= args.Length) throw new ArgumentException($"unexpected argument '{args[i]}'\n{Usage}");
            d[args[i]] = args[++i];
        }
        string S(string k, string def) => d.TryGetValue(k, out var v) ? v : def;
        int I(string k, int def) => int.Parse(S(k, def.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        float Fl(string k, float def) => float.Parse(S(k, def.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var method = S("--method", "ddim");
        if (method is not ("ddpm" or "ddim" or "flow" or "reflow")) throw new ArgumentException($"--method must be ddpm, ddim, flow or reflow, got '{method}'");
        return new Options(method, I("--steps", 2000), I("--batch", 64), Fl("--lr", 1e-3f), Fl("--guidance", 2f),
            I("--sampling-steps", method == "reflow" ? 2 : 50), I("--base-channels", 32), I("--reflow-pairs", 2048), I("--reflow-steps", 1000),
            flags.Contains("--heun"), I("--seed", 0), S("--out", $"runs/diffusion-{method}"), flags.Contains("--time-step"));
    }
}

static class Images
{
    /// <summary>Writes (N, 1, S, S) images in [−1, 1] as a grayscale PNG grid with <paramref name="columns"/> per row and 2-pixel gaps.</summary>
    public static void WriteGrid(string path, Tensor images, int columns)
    {
        int N = images.Shape[0], S = images.Shape[2], rows = (N + columns - 1) / columns, gap = 2;
        int W = columns * (S + gap) + gap, H = rows * (S + gap) + gap;
        var pixels = new byte[W * H];
        Array.Fill(pixels, (byte)64);
        var v = images.Contiguous().ToArray();
        for (int i = 0; i < N; i++)
        {
            int oy = gap + (i / columns) * (S + gap), ox = gap + (i % columns) * (S + gap);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    pixels[(oy + y) * W + ox + x] = (byte)Math.Clamp((v[i * S * S + y * S + x] + 1) * 127.5f, 0, 255);
        }
        Png.WriteGray(path, W, H, pixels);
    }
}
