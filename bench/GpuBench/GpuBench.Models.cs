// GpuBench.Models.cs — the WORKLOADS whole-model workloads (shared/bench/WORKLOADS.md M1–M4) run by the engine
// on a GPU device, keyed as the CPU runner (bench/Workloads.Models.cs) and the CUDA peer
// (bench/peer/gpu_models.py) key them: M1/step, M1/sample50, M2/step, M2/sample, M3/step, M3/generate256,
// M4/step. Same networks (models/Common UNet and Mlp2D; bench/Networks GptChar and DCGAN-S, linked into
// GpuBench.csproj), same parameter counts (checked), same seeds, optimizers and definitions as the CPU
// runner; the data is generated on the CPU with the same generators and moved to the device once.
//
// Per workload: the first call alone ("first_ms": kernel compiles + driver JIT included, and "compile_ms",
// the first-launch load time of the kernels this workload was the first to use), more warm-up calls, then
// timed calls — each ends synchronised (loss.Item() or GpuDevice.Synchronize()) — reported as the median
// ("ms"), min and max; "host_fallbacks" (DeviceFallbacks over the timed calls: ops that touched device memory
// on the host for lack of a kernel; 0 means everything ran in kernels) and "driver_allocations" (cuMemAlloc
// calls during the timed calls; 0 means the caching allocator served every buffer).
//
// On ILGPU's CPU accelerator (one OS thread per group thread, ILGPU.md §5) the full sizes would take hours,
// so there the same networks run at reduced sizes (batch 1–16, small images/sequences, 1–3 timed calls),
// each labelled in "reduced": those figures only prove the plumbing and are never compared with PyTorch.
// Only M2 runs there unless --models-all is given (all seven took 4.5 min on a loaded 2-core machine, every
// one with 0 host fallbacks and 0 driver allocations after warm-up).
//
// Run: dotnet run -c Release --project bench/GpuBench -- --device cuda:0 --only models
//      (bench/gpu/run-on-device.sh runs it with the peer and prints the ratios against the targets)
using System.Diagnostics;
using System.Text.Json.Nodes;
using Denoise.Bench.Networks;
using Denoise.Models.Common;
using Denoise.NN;
using Denoise.Optim;

namespace Denoise.Bench.Gpu;

public static partial class GpuBench
{
    /// <summary>Full WORKLOADS sizes, or the labelled toy sizes the CPU accelerator can afford.</summary>
    sealed record ModelSizes(bool Reduced, int M1Batch, int M1Image, int M1SampleSteps, int M2Batch, int M2Points, int M2SampleSteps,
                             int M3Batch, int M3Context, int M3Tokens, int M4Batch, int Warmup, int Reps, double BudgetSeconds)
    {
        public static readonly ModelSizes Full = new(false, 64, 28, 50, 512, 10_000, 100, 32, 128, 256, 64, 3, 20, 20);
        public static readonly ModelSizes Tiny = new(true, 1, 8, 2, 16, 64, 2, 1, 8, 3, 2, 0, 1, 0);
        public static readonly ModelSizes Quick = Full with { Warmup = 2, Reps = 10, BudgetSeconds = 8 };
    }

    static JsonNode Models(string? deviceName, bool quick, bool onCpu, bool all)
    {
        var device = deviceName is null ? Device.Best(Console.Error) : Device.Parse(deviceName);
        var sz = onCpu ? ModelSizes.Tiny : quick ? ModelSizes.Quick : ModelSizes.Full;
        var results = new JsonObject();
        var r = new JsonObject
        {
            ["device"] = device.Name,
            ["sizes"] = sz.Reduced ? "REDUCED (ILGPU CPU accelerator: plumbing only, not comparable with WORKLOADS figures)" : "WORKLOADS",
            ["results"] = results,
        };
        foreach (var (key, run) in ModelWorkloads(device, sz))
        {
            if (sz.Reduced && !all && !key.StartsWith("M2/", StringComparison.Ordinal))
            {
                // Even reduced, M1/M3/M4 take minutes on the CPU accelerator (M1's step ~45 s on a loaded 2-core box).
                results[key] = new JsonObject { ["skipped"] = "CPU accelerator: only M2 runs unless --models-all is given" };
                continue;
            }
            Log($"models: {key} on {device.Name} …");
            try
            {
                using (TensorScope.Suspend()) results[key] = run();
                Log($"models: {key}: {results[key]!.ToJsonString()}");
            }
            catch (Exception e)
            {
                results[key] = new JsonObject { ["error"] = e.ToString() };
                Log($"models: {key} failed: {e.Message}");
            }
        }
        return r;
    }

    static IEnumerable<(string key, Func<JsonObject> run)> ModelWorkloads(Device d, ModelSizes sz)
    {
        yield return ("M1/step", () => UNetStep(d, sz));
        yield return ("M1/sample50", () => UNetSample50(d, sz));
        yield return ("M2/step", () => Mlp2DStep(d, sz));
        yield return ("M2/sample", () => Mlp2DSample(d, sz));
        yield return ("M3/step", () => GptStep(d, sz));
        yield return ("M3/generate256", () => GptGenerate(d, sz));
        yield return ("M4/step", () => DcganStep(d, sz));
    }

    /// <summary>
    /// Times <paramref name="body"/> on <paramref name="device"/>: one first call (compiles), warm-up calls, then
    /// timed calls (at least 3 unless the sizes say fewer, up to sz.Reps or until sz.BudgetSeconds have passed),
    /// each closed by a device synchronise. Counts host fallbacks and driver allocations over the timed calls.
    /// </summary>
    static JsonObject TimeModel(Device device, ModelSizes sz, Action body, long parameters, string? reduced)
    {
        var gpu = device as GpuDevice;
        void Sync() => gpu?.Synchronize();
        var compiledBefore = gpu?.KernelCompileMilliseconds.Keys.ToHashSet() ?? [];
        var first = Stopwatch.StartNew();
        body(); Sync();
        double firstMs = first.Elapsed.TotalMilliseconds;
        double compileMs = gpu?.KernelCompileMilliseconds.Where(kv => !compiledBefore.Contains(kv.Key)).Sum(kv => kv.Value) ?? 0;
        for (int i = 0; i < sz.Warmup; i++) { body(); Sync(); }
        long allocs0 = gpu?.Memory.DeviceAllocations ?? 0;
        DeviceFallbacks.Reset();
        var ms = new List<double>();
        var total = Stopwatch.StartNew();
        int minReps = Math.Min(3, sz.Reps);
        while (ms.Count < minReps || (ms.Count < sz.Reps && total.Elapsed.TotalSeconds < sz.BudgetSeconds))
        {
            long t0 = Stopwatch.GetTimestamp();
            body(); Sync();
            ms.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        ms.Sort();
        var r = new JsonObject
        {
            ["ms"] = Math.Round(ms[ms.Count / 2], 4), ["min_ms"] = Math.Round(ms[0], 4), ["max_ms"] = Math.Round(ms[^1], 4),
            ["reps"] = ms.Count, ["first_ms"] = Math.Round(firstMs, 1), ["compile_ms"] = Math.Round(compileMs, 1),
            ["params"] = parameters,
            ["host_fallbacks"] = DeviceFallbacks.Total,
            ["host_fallbacks_by_op"] = new JsonObject(DeviceFallbacks.Counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        if (gpu is not null)
        {
            r["driver_allocations"] = gpu.Memory.DeviceAllocations - allocs0;
            r["peak_mib"] = Math.Round(gpu.Memory.PeakBytes / (1024.0 * 1024), 1);
        }
        if (reduced is not null) r["reduced"] = reduced;
        return r;
    }

    static long CheckParams(string what, Module m, long expected)
    {
        long n = m.ParameterCount();
        if (n != expected)
            throw new InvalidOperationException($"{what}: {n:N0} parameters, but WORKLOADS.md specifies {expected:N0}; this is a different network.");
        return n;
    }

    // ───────────────────── M1: UNet-S ─────────────────────

    /// <summary>B = 64 images (1, 28, 28), t ∈ [0, 1) as given, MSE against a random target, AdamW(2e-4, 0.9/0.999, wd 0, eps 1e-8).</summary>
    static JsonObject UNetStep(Device d, ModelSizes sz)
    {
        var net = new UNet(UNetConfig.M1(), new Generator(70));
        long p = CheckParams("M1 UNet-S", net, 2_152_289);
        net.To(d);
        var opt = new AdamW(net.Parameters(), lr: 2e-4f, beta1: 0.9f, beta2: 0.999f, eps: 1e-8f, weightDecay: 0f);
        int B = sz.M1Batch, S = sz.M1Image;
        var x = Tensor.Randn([B, 1, S, S], new Generator(71)).To(d);
        var target = Tensor.Randn([B, 1, S, S], new Generator(72)).To(d);
        var t = Tensor.Rand([B], new Generator(73)).To(d);
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = F.MseLoss(net.Forward(x, t), target);
            loss.Backward();
            opt.Step();
            loss.Item();   // synchronises
        }, p, sz.Reduced ? $"B={B}, {S}x{S} (WORKLOADS: B=64, 28x28)" : null);
    }

    /// <summary>64 images × 50 Euler steps x ← x + (1/50)·net(x, tᵢ), tᵢ = i/50, no gradients.</summary>
    static JsonObject UNetSample50(Device d, ModelSizes sz)
    {
        var net = new UNet(UNetConfig.M1(), new Generator(74));
        long p = CheckParams("M1 UNet-S", net, 2_152_289);
        net.To(d);
        int B = sz.M1Batch, S = sz.M1Image, steps = sz.M1SampleSteps;
        var x0 = Tensor.Randn([B, 1, S, S], new Generator(75)).To(d);
        var gpu = d as GpuDevice;
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var x = x0;
            for (int i = 0; i < steps; i++)
            {
                using var step = TensorScope.Begin();   // one scope per Euler step: its buffers are reused by the next
                x = step.Keep(x + net.Forward(x, Tensor.Full([B], (float)i / 50, d)) * (1f / 50));
            }
            gpu?.Synchronize();
        }, p, sz.Reduced ? $"B={B}, {S}x{S}, {steps} Euler steps (WORKLOADS: B=64, 28x28, 50 steps)" : null);
    }

    // ───────────────────── M2: MLP-2D ─────────────────────

    static JsonObject Mlp2DStep(Device d, ModelSizes sz)
    {
        var net = new Mlp2D(gen: new Generator(40));
        long p = CheckParams("M2 Mlp2D", net, 133_122);
        net.To(d);
        var opt = new Adam(net.Parameters(), lr: 1e-3f);
        int B = sz.M2Batch;
        var x = Tensor.Randn([B, 2], new Generator(41)).To(d);
        var t = Tensor.Rand([B], new Generator(42)).To(d);
        var target = Tensor.Randn([B, 2], new Generator(43)).To(d);
        return TimeModel(d, sz with { Warmup = Math.Max(sz.Warmup, sz.Reduced ? 1 : 5), Reps = sz.Reduced ? 3 : sz.Reps * 5 / 2 }, () =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = F.MseLoss(net.Forward(x, t), target);
            loss.Backward();
            opt.Step();
            loss.Item();
        }, p, sz.Reduced ? $"B={B} (WORKLOADS: 512)" : null);
    }

    /// <summary>10,000 points × 100 Euler steps x ← x + (1/100)·v(x, tᵢ), tᵢ = i/100, no gradients.</summary>
    static JsonObject Mlp2DSample(Device d, ModelSizes sz)
    {
        var net = new Mlp2D(gen: new Generator(44));
        long p = CheckParams("M2 Mlp2D", net, 133_122);
        net.To(d);
        int points = sz.M2Points, steps = sz.M2SampleSteps;
        var x0 = Tensor.Randn([points, 2], new Generator(45)).To(d);
        var gpu = d as GpuDevice;
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var x = x0;
            for (int i = 0; i < steps; i++)
            {
                using var step = TensorScope.Begin();
                x = step.Keep(x + net.Forward(x, Tensor.Full([points], (float)i / 100, d)) * (1f / 100));
            }
            gpu?.Synchronize();
        }, p, sz.Reduced ? $"{points} points, {steps} Euler steps (WORKLOADS: 10,000 points, 100 steps)" : null);
    }

    // ───────────────────── M3: GPT-char ─────────────────────

    static JsonObject GptStep(Device d, ModelSizes sz)
    {
        var net = new GptChar(gen: new Generator(50));
        long p = CheckParams("M3 GptChar", net, 822_016);
        net.To(d);
        var opt = new AdamW(net.Parameters(), lr: 3e-4f, weightDecay: 0.1f);
        int B = sz.M3Batch, T = sz.M3Context, V = net.Config.Vocab;
        var ids = Tensor.Randint(0, V, [B, T], new Generator(51)).To(d);
        var targets = Tensor.Randint(0, V, [B * T], new Generator(52)).To(d);
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            var logits = net.Forward(ids);                                   // (B, T, V)
            var loss = F.CrossEntropy(logits.Reshape(B * T, V), targets);
            loss.Backward();
            opt.Step();
            loss.Item();
        }, p, sz.Reduced ? $"B={B}, T={T} (WORKLOADS: B=32, T=128)" : null);
    }

    /// <summary>256 tokens for one sequence, sampled from softmax of the last position; the whole (cropped to
    /// 128) context is re-run each token (no KV cache). Each token is read back to the host (as the CPU runner
    /// does) to build the next input, which also synchronises every token.</summary>
    static JsonObject GptGenerate(Device d, ModelSizes sz)
    {
        var net = new GptChar(gen: new Generator(53));
        long p = CheckParams("M3 GptChar", net, 822_016);
        net.To(d);
        net.Eval();
        int ctx = net.Config.Context, tokensToMake = sz.M3Tokens;
        var gen = new Generator(54);
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var tokens = new List<int> { 0 };
            for (int i = 0; i < tokensToMake; i++)
            {
                using var token = TensorScope.Begin();
                int start = Math.Max(0, tokens.Count - ctx);
                var ids = Tensor.FromArray(tokens.GetRange(start, tokens.Count - start).ToArray(), 1, tokens.Count - start).To(d);
                var logits = net.Forward(ids).Select(1, -1);                 // (1, V): last position
                tokens.Add(logits.Softmax(-1).Multinomial(1, gen: gen).ToIntArray()[0]);
            }
        }, p, sz.Reduced ? $"{tokensToMake} tokens (WORKLOADS: 256)" : null);
    }

    // ───────────────────── M4: DCGAN-S ─────────────────────

    /// <summary>fake = G(z) once; D update on real vs fake.detach(); G update on D(fake) (non-saturating BCE).
    /// z is drawn on the device (the same Philox stream as on the CPU).</summary>
    static JsonObject DcganStep(Device d, ModelSizes sz)
    {
        var G = new DcganGenerator(new Generator(60));
        var D = new DcganDiscriminator(new Generator(61));
        long pG = G.ParameterCount(), pD = D.ParameterCount();
        if (pG + pD != 691_330)
            throw new InvalidOperationException($"M4 DCGAN-S: {pG:N0} + {pD:N0} parameters, but WORKLOADS.md specifies 691,330; this is a different network.");
        G.To(d); D.To(d);
        var optG = new Adam(G.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        var optD = new Adam(D.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        int B = sz.M4Batch;
        var real = (Tensor.Rand([B, 1, 28, 28], new Generator(62)) * 2f - 1f).Detach().To(d);
        var ones = Tensor.Ones(B, 1).To(d);
        var zeros = Tensor.Zeros(B, 1).To(d);
        var zGen = new Generator(63);
        return TimeModel(d, sz, () =>
        {
            using var s = TensorScope.Begin();
            var fake = G.Forward(Tensor.Randn([B, DcganGenerator.ZDim], zGen, d));
            optD.ZeroGrad();
            var lossD = F.BinaryCrossEntropyWithLogits(D.Forward(real), ones)
                      + F.BinaryCrossEntropyWithLogits(D.Forward(fake.Detach()), zeros);
            lossD.Backward();
            optD.Step();
            optG.ZeroGrad();
            var lossG = F.BinaryCrossEntropyWithLogits(D.Forward(fake), ones);
            lossG.Backward();
            optG.Step();
            lossG.Item();
        }, pG + pD, sz.Reduced ? $"B={B} (WORKLOADS: 64)" : null);
    }
}
