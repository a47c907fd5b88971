// Kernel workloads K2–K4 of shared/bench/WORKLOADS.md for the WORKLOADS runner (see Workloads.cs):
//   K2 Conv2d 3×3 s1 p1 with bias, fwd and fwd+bwd (dX, dW, db) through F.Conv2d;
//      FLOPs: fwd 2·N·Cout·Hout·Wout·Cin·9, fwd+bwd 3× that (dX and dW each cost one forward), the direct
//      convolution's count for both engines (Winograd maps, conv V8, do fewer: their rate is an effective one).
//   K3 GroupNorm(8) + SiLU (affine), fwd and fwd+bwd, via F.GroupNorm(...).SiLU().
//   K4 attention core softmax(QKᵀ/√d)V on (B, heads, T, d) via F.ScaledDotProductAttention (the
//      fused blockwise kernel, kernels/Cpu/Attention); the T = 1024 case is causal and skipped by
//      --quick. FLOPs: fwd 4·B·h·T²·d, halved when causal; fwd+bwd 3× that (as the peer counts).
// fwd+bwd back-propagates a fixed upstream gradient dY (as y.backward(dY) in the peer), so no loss
// op is timed; leaf gradients accumulate in place from one iteration to the next, in both engines.
// Run: dotnet run -c Release --project bench -- workloads --only K2,K3,K4
using System.Text.Json.Nodes;

namespace Denoise.Bench;

public static partial class Workloads
{
    static readonly (int N, int Cin, int H, int W, int Cout)[] ConvShapes =
        [(64, 1, 28, 28, 32), (64, 32, 28, 28, 32), (64, 64, 14, 14, 64), (64, 128, 7, 7, 128)];
    static readonly (int N, int C, int H, int W)[] NormShapes = [(64, 64, 14, 14), (64, 128, 7, 7)];
    static readonly (int B, int Heads, int T, int D, bool Causal)[] AttentionShapes =
        [(64, 4, 49, 32, false), (32, 4, 128, 32, false), (8, 8, 1024, 64, true)];

    static IEnumerable<(string key, Func<JsonObject> run)> KernelWorkloads(Options o)
    {
        foreach (var c in ConvShapes)
            foreach (bool bwd in new[] { false, true })
                yield return ($"K2/{c.N}x{c.Cin}x{c.H}x{c.W}x{c.Cout}/{(bwd ? "fwdbwd" : "fwd")}", () => ConvWorkload(c, bwd, o));
        foreach (var s in NormShapes)
            foreach (bool bwd in new[] { false, true })
                yield return ($"K3/{s.N}x{s.C}x{s.H}x{s.W}/{(bwd ? "fwdbwd" : "fwd")}", () => GroupNormSiluWorkload(s, bwd, o));
        foreach (var a in AttentionShapes)
        {
            if (o.Quick && a.T >= 1024) continue;
            foreach (bool bwd in new[] { false, true })
                yield return ($"K4/{a.B}x{a.Heads}x{a.T}x{a.D}{(a.Causal ? "/causal" : "")}/{(bwd ? "fwdbwd" : "fwd")}",
                    () => AttentionWorkload(a, bwd, o));
        }
    }

    /// <summary>Times y = f(); with <paramref name="bwd"/>, also y.Backward(dY) for a fixed dY of y's shape.</summary>
    static (double, double, double, double, double) TimeFwdBwd(Func<Tensor> f, bool bwd, int warmup, int reps)
    {
        Tensor? dY = null;
        if (bwd)
            using (TensorScope.Suspend())
            using (Autograd.NoGrad())
            {
                var shape = f().Shape.ToArray();
                dY = Tensor.Randn(shape, new Generator(99));
            }
        return Time(() =>
        {
            using var s = TensorScope.Begin();
            if (!bwd) { using (Autograd.NoGrad()) f(); return; }
            f().Backward(dY);
        }, warmup, reps);
    }

    static JsonObject ConvWorkload((int N, int Cin, int H, int W, int Cout) c, bool bwd, Options o)
    {
        var x = Tensor.Randn([c.N, c.Cin, c.H, c.W], new Generator(10)).RequiresGrad_(bwd);
        var w = (Tensor.Randn([c.Cout, c.Cin, 3, 3], new Generator(11)) * 0.1f).Detach().RequiresGrad_(bwd);
        var b = Tensor.Randn([c.Cout], new Generator(12)).RequiresGrad_(bwd);
        var t = TimeFwdBwd(() => F.Conv2d(x, w, b, padding: 1), bwd, 2, o.Quick ? 5 : 20);
        double fwdFlops = 2.0 * c.N * c.Cout * c.H * c.W * c.Cin * 9;   // stride 1, pad 1: Hout = H, Wout = W
        return Result(t, bwd ? 3 * fwdFlops : fwdFlops);
    }

    static JsonObject GroupNormSiluWorkload((int N, int C, int H, int W) s, bool bwd, Options o)
    {
        var x = Tensor.Randn([s.N, s.C, s.H, s.W], new Generator(20)).RequiresGrad_(bwd);
        var gamma = (Tensor.Ones(s.C) + Tensor.Randn([s.C], new Generator(21)) * 0.1f).Detach().RequiresGrad_(bwd);
        var beta = (Tensor.Randn([s.C], new Generator(22)) * 0.1f).Detach().RequiresGrad_(bwd);
        var t = TimeFwdBwd(() => F.GroupNorm(x, 8, gamma, beta).SiLU(), bwd, 2, o.Quick ? 5 : 20);
        return Result(t);
    }

    static JsonObject AttentionWorkload((int B, int Heads, int T, int D, bool Causal) a, bool bwd, Options o)
    {
        int[] shape = [a.B, a.Heads, a.T, a.D];
        var q = Tensor.Randn(shape, new Generator(30)).RequiresGrad_(bwd);
        var k = Tensor.Randn(shape, new Generator(31)).RequiresGrad_(bwd);
        var v = Tensor.Randn(shape, new Generator(32)).RequiresGrad_(bwd);
        int reps = o.Quick ? 5 : (a.T >= 1024 ? 10 : 20);
        var t = TimeFwdBwd(() => F.ScaledDotProductAttention(q, k, v, isCausal: a.Causal), bwd, a.T >= 1024 ? 1 : 2, reps);
        double fwd = 4.0 * a.B * a.Heads * a.T * a.T * a.D * (a.Causal ? 0.5 : 1.0);
        return Result(t, bwd ? 3 * fwd : fwd);
    }
}
