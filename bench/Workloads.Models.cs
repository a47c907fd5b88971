// Whole-model workloads (M1–M4) of shared/bench/WORKLOADS.md for the WORKLOADS runner; see Workloads.cs.
// A "step" is forward + loss + backward + optimizer update on fixed, pre-generated data, inside a
// TensorScope as a training loop runs it. Each network's parameter count is checked against the
// number WORKLOADS gives (a different count is a different network) and reported as "params".
// Run: dotnet run -c Release --project bench -- workloads --only M1,M2,M3,M4 [--quick]
using System.Text.Json.Nodes;
using Denoise.Bench.Networks;
using Denoise.Models.Common;
using Denoise.NN;
using Denoise.Optim;

namespace Denoise.Bench;

public static partial class Workloads
{
    private static partial IEnumerable<(string key, Func<JsonObject> run)> ModelWorkloads(Options o)
    {
        yield return ("M1/step", () => UNetStep(o));
        yield return ("M1/sample50", () => UNetSample50(o));
        yield return ("M2/step", () => Mlp2DStep(o));
        yield return ("M2/sample", () => Mlp2DSample(o));
        yield return ("M3/step", () => GptStep(o));
        yield return ("M3/generate256", () => GptGenerate(o));
        yield return ("M4/step", () => DcganStep(o));
    }

    static long CheckParams(string what, Module m, long expected)
    {
        long n = m.ParameterCount();
        if (n != expected)
            throw new InvalidOperationException($"{what}: {n:N0} parameters, but WORKLOADS.md specifies {expected:N0}; this is a different network.");
        return n;
    }

    static JsonObject WithParams(JsonObject r, long p) { r["params"] = p; return r; }

    /// <summary>One training step of M1–M4 — a closure over its network, optimizer and fixed data, run inside its own
    /// TensorScope — and the parameter count. The WORKLOADS runner times it; TrainingStepBench runs it under
    /// BenchmarkDotNet's memory diagnoser.</summary>
    internal static (Action Step, long Params) TrainingStep(string model) => model switch
    {
        "M1" => UNetStepBody(),
        "M2" => Mlp2DStepBody(),
        "M3" => GptStepBody(),
        "M4" => DcganStepBody(),
        _ => throw new ArgumentException($"TrainingStep: no model '{model}'; M1, M2, M3 or M4."),
    };

    // ───────────────────── M1: UNet-S ─────────────────────

    /// <summary>B = 64 images (1, 28, 28), t ∈ [0, 1) as given, MSE against a random target, AdamW(2e-4, 0.9/0.999, wd 0, eps 1e-8).</summary>
    static JsonObject UNetStep(Options o)
    {
        var (step, p) = UNetStepBody();
        return WithParams(Result(Time(step, o.Quick ? 1 : 2, o.Quick ? 3 : 10)), p);
    }

    static (Action, long) UNetStepBody()
    {
        var net = new UNet(UNetConfig.M1(), new Generator(70));
        long p = CheckParams("M1 UNet-S", net, 2_152_289);
        var opt = new AdamW(net.Parameters(), lr: 2e-4f, beta1: 0.9f, beta2: 0.999f, eps: 1e-8f, weightDecay: 0f);
        const int B = 64;
        var x = Tensor.Randn([B, 1, 28, 28], new Generator(71));
        var target = Tensor.Randn([B, 1, 28, 28], new Generator(72));
        var t = Tensor.Rand([B], new Generator(73));
        return (() =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            F.MseLoss(net.Forward(x, t), target).Backward();
            opt.Step();
        }, p);
    }

    /// <summary>64 images × 50 Euler steps x ← x + (1/50)·net(x, tᵢ), tᵢ = i/50, no gradients.</summary>
    static JsonObject UNetSample50(Options o)
    {
        var net = new UNet(UNetConfig.M1(), new Generator(74));
        long p = CheckParams("M1 UNet-S", net, 2_152_289);
        const int B = 64, steps = 50;
        var x0 = Tensor.Randn([B, 1, 28, 28], new Generator(75));
        var r = Time(() =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var x = x0;
            for (int i = 0; i < steps; i++)
            {
                using var step = TensorScope.Begin();   // one scope per Euler step: its buffers are reused by the next
                x = step.Keep(x + net.Forward(x, Tensor.Full([B], (float)i / steps)) * (1f / steps));
            }
        }, o.Quick ? 0 : 1, o.Quick ? 1 : 5);
        return WithParams(Result(r), p);
    }

    // ───────────────────── M2: MLP-2D ─────────────────────

    static JsonObject Mlp2DStep(Options o)
    {
        var (step, p) = Mlp2DStepBody();
        return WithParams(Result(Time(step, 5, o.Quick ? 10 : 50)), p);
    }

    static (Action, long) Mlp2DStepBody()
    {
        var net = new Mlp2D(gen: new Generator(40));
        long p = CheckParams("M2 Mlp2D", net, 133_122);
        var opt = new Adam(net.Parameters(), lr: 1e-3f);
        const int B = 512;
        var x = Tensor.Randn([B, 2], new Generator(41));
        var t = Tensor.Rand([B], new Generator(42));
        var target = Tensor.Randn([B, 2], new Generator(43));
        return (() =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            F.MseLoss(net.Forward(x, t), target).Backward();
            opt.Step();
        }, p);
    }

    /// <summary>10,000 points × 100 Euler steps x ← x + (1/100)·v(x, tᵢ), tᵢ = i/100, no gradients.</summary>
    static JsonObject Mlp2DSample(Options o)
    {
        var net = new Mlp2D(gen: new Generator(44));
        long p = CheckParams("M2 Mlp2D", net, 133_122);
        const int points = 10_000, steps = 100;
        var x0 = Tensor.Randn([points, 2], new Generator(45));
        var r = Time(() =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var x = x0;
            for (int i = 0; i < steps; i++)
            {
                using var step = TensorScope.Begin();   // one scope per Euler step: its buffers are reused by the next
                x = step.Keep(x + net.Forward(x, Tensor.Full([points], (float)i / steps)) * (1f / steps));
            }
        }, 1, o.Quick ? 3 : 10);
        return WithParams(Result(r), p);
    }

    // ───────────────────── M3: GPT-char ─────────────────────

    static JsonObject GptStep(Options o)
    {
        var (step, p) = GptStepBody();
        return WithParams(Result(Time(step, 2, o.Quick ? 5 : 10)), p);
    }

    static (Action, long) GptStepBody()
    {
        var net = new GptChar(gen: new Generator(50));
        long p = CheckParams("M3 GptChar", net, 822_016);
        var opt = new AdamW(net.Parameters(), lr: 3e-4f, weightDecay: 0.1f);
        const int B = 32;
        int T = net.Config.Context, V = net.Config.Vocab;
        var ids = Tensor.Randint(0, V, [B, T], new Generator(51));
        var targets = Tensor.Randint(0, V, [B * T], new Generator(52));
        return (() =>
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            var logits = net.Forward(ids);                                   // (B, T, V)
            F.CrossEntropy(logits.Reshape(B * T, V), targets).Backward();
            opt.Step();
        }, p);
    }

    /// <summary>256 tokens for one sequence, sampled from softmax of the last position; the whole
    /// (cropped to 128) context is re-run each token, as there is no KV cache.</summary>
    static JsonObject GptGenerate(Options o)
    {
        var net = new GptChar(gen: new Generator(53));
        long p = CheckParams("M3 GptChar", net, 822_016);
        net.Eval();
        int ctx = net.Config.Context;
        var gen = new Generator(54);
        var r = Time(() =>
        {
            using var s = TensorScope.Begin();
            using var ng = Autograd.NoGrad();
            var tokens = new List<int> { 0 };
            for (int i = 0; i < 256; i++)
            {
                using var token = TensorScope.Begin();  // one scope per token: its buffers are reused by the next
                int start = Math.Max(0, tokens.Count - ctx);
                var ids = Tensor.FromArray(tokens.GetRange(start, tokens.Count - start).ToArray(), 1, tokens.Count - start);
                var logits = net.Forward(ids).Select(1, -1);                 // (1, V): last position
                tokens.Add(logits.Softmax(-1).Multinomial(1, gen: gen).IntSpan[0]);
            }
        }, 1, o.Quick ? 3 : 10);
        return WithParams(Result(r), p);
    }

    // ───────────────────── M4: DCGAN-S ─────────────────────

    /// <summary>fake = G(z) once; D update on real vs fake.detach(); G update on D(fake) (non-saturating BCE).</summary>
    static JsonObject DcganStep(Options o)
    {
        var (step, p) = DcganStepBody();
        return WithParams(Result(Time(step, 2, o.Quick ? 5 : 10)), p);
    }

    static (Action, long) DcganStepBody()
    {
        var G = new DcganGenerator(new Generator(60));
        var D = new DcganDiscriminator(new Generator(61));
        long pG = G.ParameterCount(), pD = D.ParameterCount();
        if (pG + pD != 691_330)
            throw new InvalidOperationException($"M4 DCGAN-S: {pG:N0} + {pD:N0} parameters, but WORKLOADS.md specifies 691,330; this is a different network.");
        var optG = new Adam(G.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        var optD = new Adam(D.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        const int B = 64;
        var real = (Tensor.Rand([B, 1, 28, 28], new Generator(62)) * 2f - 1f).Detach();
        var ones = Tensor.Ones(B, 1);
        var zeros = Tensor.Zeros(B, 1);
        var zGen = new Generator(63);
        return (() =>
        {
            using var s = TensorScope.Begin();
            var fake = G.Forward(Tensor.Randn([B, DcganGenerator.ZDim], zGen));
            optD.ZeroGrad();
            var lossD = F.BinaryCrossEntropyWithLogits(D.Forward(real), ones)
                      + F.BinaryCrossEntropyWithLogits(D.Forward(fake.Detach()), zeros);
            lossD.Backward();
            optD.Step();
            optG.ZeroGrad();
            F.BinaryCrossEntropyWithLogits(D.Forward(fake), ones).Backward();
            optG.Step();
        }, pG + pD);
    }
}
