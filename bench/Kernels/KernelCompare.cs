// KernelCompare.cs — quick side-by-side timings of each kernel's versions in one process (the
// machine is shared and noisy, so "before" and "after" must be measured together, interleaved).
// Median ms of interleaved rounds, after warm-up; workloads as shared/bench/WORKLOADS.md:
//   K2 conv 64×32×28×28 → 32, 3×3 pad 1, bias: forward, forward+backward (dX, dW, db)
//   K3 GroupNorm(8)+SiLU 64×64×14×14: forward+backward
//   K4 attention 64×4×49×32: forward+backward, composed matmul/softmax (before) vs the fused kernel
//   K5 SiLU over 16M floats (1 thread = the old serial Map, 2 threads = the pool)
//   --norms: LayerNorm and [log-]softmax, composed (before) vs fused kernels, at M3's shapes, fwd+bwd
//   --groupnorm: K3's pieces at both shapes: GroupNorm kernel versions ± SiLU, the SiLU maps, and the
//     engine path F.GroupNorm(x, 8).SiLU() (and F.GroupNormSiLU) on 1 and 2 threads, interleaved;
//     the kernel rows "… 1t/2t" pay a worker wake-up when they follow a 1t row (the interleaving);
//     --profile adds the engine path's per-op profile (OpProfiler) on 1 and 2 threads
// With --attention: only K4, every WORKLOADS shape: kernel V1 alone, then the engine's composed
// path against F.ScaledDotProductAttention (fused), forward and forward+backward, with GFLOP/s
// (forward 4·B·h·T²·d, halved when causal; forward+backward 3× that); then M1's attention block
// and the M3 training step with the composed path (F.UseFusedAttention off) against the fused one.
// Run: dotnet run -c Release --project bench -- versions [--quick] [--cpu-time] [--conv | --norms | --groupnorm [--profile] | --rowsum | --attention [--small]]
using System.Diagnostics;
using Denoise.Diagnostics;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

public static class KernelCompare
{
    public static int Run(string[] args)
    {
        int rounds = args.Contains("--quick") ? 5 : 15;
        if (args.Contains("--cpu-time"))
        {
            if (!OperatingSystem.IsLinux()) { Console.Error.WriteLine("versions: --cpu-time needs Linux (clock_gettime)."); return 2; }
            threadCpuTime = true;
            WorkerPool.Threads = 1;
            Gemm.MaxThreads = 1;
        }
        if (args.Contains("--attention")) return RunAttention(rounds, args.Contains("--small"));
        if (args.Contains("--rowsum")) { RowSumVersions(rounds); return 0; }
        var gen = new Generator(42);
        if (args.Contains("--norms")) { Norms(rounds, gen); return 0; }
        if (args.Contains("--groupnorm")) { GroupNormParts(rounds, args.Contains("--profile")); return 0; }

        // ── K2 ──
        var x = Tensor.Randn([64, 32, 28, 28], gen);
        var w = (Tensor.Randn([32, 32, 3, 3], gen) * (1f / MathF.Sqrt(288))).Detach().RequiresGrad_();
        var b = Tensor.Randn([32], gen).Detach().RequiresGrad_();
        var xg = x.Detach().RequiresGrad_();
        var p = new Conv2dProblem(64, new Conv2dGeometry(32, 28, 28, 3, 3, PH: 1, PW: 1), 32);
        float[] xa = x.ToArray(), wa = w.ToArray(), ya = new float[p.OutputLength], dxa = new float[p.InputLength], dwa = new float[p.WeightLength];
        double convFlops = 2.0 * p.Macs;
        void KernelFwd(Conv2dVersion v) => Conv2d.Forward(v, xa, wa, ya, p);
        void KernelFwdBwd(Conv2dVersion v)
        {
            Conv2d.Forward(v, xa, wa, ya, p);
            Conv2d.InputGrad(v, ya, wa, dxa, p);     // ya stands in for dL/dy (same shape, same cost)
            Conv2d.WeightGrad(v, xa, ya, dwa, p);
        }
        Report("K2/64x32x28x28x32/fwd kernel", rounds, convFlops,
            ("V0PerImage", () => KernelFwd(Conv2dVersion.V0PerImage)), ("V1Chunked", () => KernelFwd(Conv2dVersion.V1Chunked)));
        Report("K2/64x32x28x28x32/fwdbwd kernel (3 maps)", rounds, 3 * convFlops,
            ("V0PerImage", () => KernelFwdBwd(Conv2dVersion.V0PerImage)), ("V1Chunked", () => KernelFwdBwd(Conv2dVersion.V1Chunked)));
        Report("K2/64x32x28x28x32 V1 per map", rounds, convFlops,
            ("Forward", () => Conv2d.Forward(Conv2dVersion.V1Chunked, xa, wa, ya, p)),
            ("InputGrad", () => Conv2d.InputGrad(Conv2dVersion.V1Chunked, ya, wa, dxa, p)),
            ("WeightGrad", () => Conv2d.WeightGrad(Conv2dVersion.V1Chunked, xa, ya, dwa, p)));
        if (args.Contains("--conv")) return 0;
        Report("K2/64x32x28x28x32 engine F.Conv2d (current)", rounds, convFlops,
            ("fwd", () => { using var s = TensorScope.Begin(); using (Autograd.NoGrad()) F.Conv2d(x, w, b, padding: 1); }),
            ("fwdbwd", () =>
            {
                using var s = TensorScope.Begin();
                xg.Grad?.ZeroInPlace(); w.Grad?.ZeroInPlace(); b.Grad?.ZeroInPlace();
                F.Conv2d(xg, w, b, padding: 1).Sum().Backward();
            }));

        // ── K3 ──
        var xn = Tensor.Randn([64, 64, 14, 14], gen).Detach().RequiresGrad_();
        var gw = Tensor.Randn([64], gen).Detach().RequiresGrad_();
        var gb = Tensor.Randn([64], gen).Detach().RequiresGrad_();
        var dy = Tensor.Randn([64, 64, 14, 14], gen);
        Report("K3/64x64x14x14 GroupNorm(8)+SiLU fwdbwd", rounds, null,
            ("composed (before)", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.GroupNormComposed(xn, 8, gw, gb).SiLU()], [xn, gw, gb], [dy]); }),
            ("fused GroupNormSiLU", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.GroupNormSiLU(xn, 8, gw, gb)], [xn, gw, gb], [dy]); }));
        Report("K3/64x64x14x14 GroupNorm(8)+SiLU fwd", rounds, null,
            ("composed (before)", () => { using var s = TensorScope.Begin(); using (Autograd.NoGrad()) F.GroupNormComposed(xn, 8, gw, gb).SiLU(); }),
            ("fused GroupNormSiLU", () => { using var s = TensorScope.Begin(); using (Autograd.NoGrad()) F.GroupNormSiLU(xn, 8, gw, gb); }));

        // ── K4 small ──
        var q = Tensor.Randn([64, 4, 49, 32], gen).Detach().RequiresGrad_();
        var k = Tensor.Randn([64, 4, 49, 32], gen).Detach().RequiresGrad_();
        var v = Tensor.Randn([64, 4, 49, 32], gen).Detach().RequiresGrad_();
        var go = Tensor.Randn([64, 4, 49, 32], gen);
        float sc = 1f / MathF.Sqrt(32);
        Report("K4/64x4x49x32 attention fwdbwd", rounds, 3 * 4.0 * 64 * 4 * 49 * 49 * 32,
            ("composed (before)", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.ScaledDotProductAttentionComposed(q, k, v, null, false, sc)], [q, k, v], [go]); }),
            ("fused", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.ScaledDotProductAttention(q, k, v)], [q, k, v], [go]); }));

        // ── K5 ──
        var big = Tensor.Randn([16 << 20], new Generator(3));
        int saved = WorkerPool.Threads;
        Report("K5/silu 16M", rounds, null,
            ("1 thread (before)", () => { WorkerPool.Threads = 1; using var s = TensorScope.Begin(); big.SiLU(); WorkerPool.Threads = saved; }),
            ("pool, 2 threads", () => { using var s = TensorScope.Begin(); big.SiLU(); }));
        return 0;
    }

    /// <summary>K5 rowsum (4096 × 4096, sum over the last axis): the RowSums versions, with GB/s read.</summary>
    static void RowSumVersions(int rounds)
    {
        var x = Tensor.Randn([4096, 4096], new Generator(4)).ToArray();
        var y = new float[4096];
        foreach (var v in Enum.GetValues<RowSumsVersion>())
        {
            RowSums.Run(v, x, y, 4096);
            double worst = 0;
            for (int i = 0; i < 4096; i += 97)
            {
                double r = 0;
                for (int j = 0; j < 4096; j++) r += x[i * 4096 + j];
                worst = Math.Max(worst, Math.Abs(r - y[i]));
            }
            if (worst > 1e-2) throw new InvalidOperationException($"RowSums {v}: error {worst} against a double reference");
        }
        Report("K5/rowsum 4096×4096 (64 MiB read; ms → GB/s = 67.1 / ms)", rounds, null,
            Enum.GetValues<RowSumsVersion>().Select(v => (v.ToString(), (Action)(() => RowSums.Run(v, x, y, 4096)))).ToArray());
    }

    /// <summary>K3's pieces at both WORKLOADS shapes, kernel by kernel: GroupNorm(8) forward and backward
    /// per NormVersion, with and without the fused SiLU, and the separate SiLU map's forward and backward.</summary>
    static void GroupNormParts(int rounds, bool profile)
    {
        foreach (var (N, C, H, W) in new[] { (64, 64, 14, 14), (64, 128, 7, 7) })
        {
            var gen = new Generator(5);
            int len = N * C * H * W;
            float[] x = Tensor.Randn([len], gen).ToArray(), dy = Tensor.Randn([len], gen).ToArray();
            float[] ga = Tensor.Randn([C], gen).ToArray(), be = Tensor.Randn([C], gen).ToArray();
            float[] y = new float[len], dx = new float[len], mean = new float[N * 8], rstd = new float[N * 8], dg = new float[C], db = new float[C];
            var plain = new GroupNormShape(N, C, H * W, 8, 1e-5f, false);
            var silu = plain with { SiLU = true };
            GroupNorm.Forward(x, ga, be, y, mean, rstd, plain);
            var parts = new List<(string, Action)>
            {
                ("SiLU map fwd", () => Map.Unary<Denoise.Kernels.Ops.SiLU>(y, dx)),
                ("SiLU map bwd", () => Map.Binary<Denoise.Kernels.Ops.SiLUBackward>(dy, y, dx)),
            };
            foreach (var v in Enum.GetValues<NormVersion>().Where(v => v != NormVersion.V0Reference))
            {
                parts.Add(($"{v} fwd", () => GroupNorm.Forward(v, x, ga, be, y, mean, rstd, plain)));
                parts.Add(($"{v} bwd", () => GroupNorm.Backward(v, x, dy, ga, be, mean, rstd, dx, dg, db, plain)));
                parts.Add(($"{v} fwd +SiLU", () => GroupNorm.Forward(v, x, ga, be, y, mean, rstd, silu)));
                parts.Add(($"{v} bwd +SiLU", () => GroupNorm.Backward(v, x, dy, ga, be, mean, rstd, dx, dg, db, silu)));
            }
            // M1's ResBlock: the time embedding as the norm's per-(n, c) shift, against the broadcast add it replaced.
            float[] sh = Tensor.Randn([N * C], gen).ToArray(), dsh = new float[N * C], xs = new float[len];
            int S = H * W;
            parts.Add(("V2Overlap fwd +SiLU +shift", () => GroupNorm.Forward(NormVersion.V2Overlap, x, ga, be, sh, y, mean, rstd, silu)));
            parts.Add(("V2Overlap bwd +SiLU +shift", () => GroupNorm.Backward(NormVersion.V2Overlap, x, dy, ga, be, sh, mean, rstd, dx, dg, db, dsh, silu)));
            parts.Add(("broadcast add x + shift", () => { for (int i = 0; i < N * C; i++) Map.BinaryScalarB<Denoise.Kernels.Ops.Add>(x.AsSpan(i * S, S), sh[i], xs.AsSpan(i * S, S)); }));
            int saved0 = WorkerPool.Threads;
            foreach (int th in saved0 >= 2 ? new[] { 1, 2 } : new[] { 1 })
            {
                int t0 = th;
                parts.Add(($"V2Overlap fwd {th}t", () => { WorkerPool.Threads = t0; GroupNorm.Forward(NormVersion.V2Overlap, x, ga, be, y, mean, rstd, plain); WorkerPool.Threads = saved0; }));
                parts.Add(($"V2Overlap bwd {th}t", () => { WorkerPool.Threads = t0; GroupNorm.Backward(NormVersion.V2Overlap, x, dy, ga, be, mean, rstd, dx, dg, db, plain); WorkerPool.Threads = saved0; }));
                parts.Add(($"SiLU map fwd {th}t", () => { WorkerPool.Threads = t0; Map.Unary<Denoise.Kernels.Ops.SiLU>(y, dx); WorkerPool.Threads = saved0; }));
            }
            Report($"K3 {N}x{C}x{H}x{W} GroupNorm(8) kernels", rounds, null, parts.ToArray());

            // The workload's engine path, on 1 and 2 threads interleaved: where the 2-thread backward loses its speed-up.
            var xt = Tensor.Randn([N, C, H, W], gen).Detach().RequiresGrad_();
            var gt = Tensor.Randn([C], gen).Detach().RequiresGrad_();
            var bt = Tensor.Randn([C], gen).Detach().RequiresGrad_();
            var dt = Tensor.Randn([N, C, H, W], gen);
            int saved = WorkerPool.Threads;
            Action On(int threads, Action body) => () => { WorkerPool.Threads = threads; try { body(); } finally { WorkerPool.Threads = saved; } };
            var engine = new List<(string, Action)>();
            foreach (int th in saved >= 2 ? new[] { 1, 2 } : new[] { 1 })
            {
                engine.Add(($"{th}t fwd", On(th, () => { using var sc = TensorScope.Begin(); using (Autograd.NoGrad()) F.GroupNorm(xt, 8, gt, bt).SiLU(); })));
                engine.Add(($"{th}t fwd+Grad", On(th, () => { using var sc = TensorScope.Begin(); Autograd.Grad([F.GroupNorm(xt, 8, gt, bt).SiLU()], [xt, gt, bt], [dt]); })));
                engine.Add(($"{th}t fwd+Backward", On(th, () => { using var sc = TensorScope.Begin(); F.GroupNorm(xt, 8, gt, bt).SiLU().Backward(dt); })));
                engine.Add(($"{th}t fused fwd+Backward", On(th, () => { using var sc = TensorScope.Begin(); F.GroupNormSiLU(xt, 8, gt, bt).Backward(dt); })));
            }
            Report($"K3 {N}x{C}x{H}x{W} engine F.GroupNorm(x, 8).SiLU()", rounds, null, engine.ToArray());
            if (!profile) continue;
            // --profile: where the engine path's time goes, op by op (wall clock), 50 fwd+Backward steps each.
            foreach (int th in saved >= 2 ? new[] { 1, 2 } : new[] { 1 })
            {
                var step = On(th, () => { using var sc = TensorScope.Begin(); F.GroupNorm(xt, 8, gt, bt).SiLU().Backward(dt); });
                for (int i = 0; i < 10; i++) step();
                OpProfiler.Enabled = true; OpProfiler.Reset();
                for (int i = 0; i < 50; i++) step();
                OpProfiler.Enabled = false;
                Console.WriteLine($"-- K3 {N}x{C}x{H}x{W} F.GroupNorm(x, 8).SiLU().Backward, {th} thread(s), per step:");
                Console.Write(OpProfiler.Report(20, 50));
            }
        }
    }

    /// <summary>The fused LayerNorm / softmax ops against the compositions they replaced (M3's shapes).</summary>
    static void Norms(int rounds, Generator gen)
    {
        var x = Tensor.Randn([32, 128, 128], gen).Detach().RequiresGrad_();
        var w = Tensor.Randn([128], gen).Detach().RequiresGrad_();
        var b = Tensor.Randn([128], gen).Detach().RequiresGrad_();
        var dy = Tensor.Randn([32, 128, 128], gen);
        Report("LayerNorm (32, 128, 128) over 128, affine, fwd+bwd", rounds, null,
            ("composed (before)", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.LayerNormComposed(x, [128], w, b)], [x, w, b], [dy]); }),
            ("fused", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.LayerNorm(x, 128, w, b)], [x, w, b], [dy]); }));
        var att = Tensor.Randn([32, 4, 128, 128], gen).Detach().RequiresGrad_();
        var datt = Tensor.Randn([32, 4, 128, 128], gen);
        Report("Softmax (32, 4, 128, 128) over the last axis, fwd+bwd", rounds, null,
            ("composed (before)", () => { using var s = TensorScope.Begin(); Autograd.Grad([att.SoftmaxComposed(-1)], [att], [datt]); }),
            ("fused", () => { using var s = TensorScope.Begin(); Autograd.Grad([att.Softmax(-1)], [att], [datt]); }));
        var logits = Tensor.Randn([4096, 96], gen).Detach().RequiresGrad_();
        var dl = Tensor.Randn([4096, 96], gen);
        Report("LogSoftmax (4096, 96), fwd+bwd", rounds, null,
            ("composed (before)", () => { using var s = TensorScope.Begin(); Autograd.Grad([logits.LogSoftmaxComposed(-1)], [logits], [dl]); }),
            ("fused", () => { using var s = TensorScope.Begin(); Autograd.Grad([logits.LogSoftmax(-1)], [logits], [dl]); }));
        var xn = Tensor.Randn([64, 64, 14, 14], gen).Detach().RequiresGrad_();
        var gw = Tensor.Randn([64], gen).Detach().RequiresGrad_();
        var gb = Tensor.Randn([64], gen).Detach().RequiresGrad_();
        var dn = Tensor.Randn([64, 64, 14, 14], gen);
        Report("K3 (64, 64, 14, 14) fwd+bwd: the workload's GroupNorm then SiLU vs the fused pair", rounds, null,
            ("F.GroupNorm(x).SiLU()", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.GroupNorm(xn, 8, gw, gb).SiLU()], [xn, gw, gb], [dn]); }),
            ("F.GroupNormSiLU(x)", () => { using var s = TensorScope.Begin(); Autograd.Grad([F.GroupNormSiLU(xn, 8, gw, gb)], [xn, gw, gb], [dn]); }));
    }

    static int RunAttention(int rounds, bool smallOnly)
    {
        // A GEMM of known speed (GemmBench), timed alongside: on a loaded machine, read the kernels
        // as a fraction of what GEMM gets in the same minutes.
        var ca = new float[512 * 512]; var cc = new float[512 * 512];
        Report("calibration: Gemm.Run 512³", rounds, 2.0 * 512 * 512 * 512,
            ("V2Packed", () => Gemm.Run(false, false, 512, 512, 512, 1f, ca, 512, ca, 512, 0f, cc, 512)));
        foreach (var a in AttentionBench.Shapes)
        {
            if (smallOnly && a.T >= 1024) continue;
            var gen = new Generator(7);
            int[] shape = [a.B, a.H, a.T, a.D];
            var q = Tensor.Randn(shape, gen).RequiresGrad_();
            var k = Tensor.Randn(shape, gen).RequiresGrad_();
            var v = Tensor.Randn(shape, gen).RequiresGrad_();
            var go = Tensor.Randn(shape, gen);
            float sc = 1f / MathF.Sqrt(a.D);
            double fwd = 4.0 * a.B * a.H * a.T * a.T * a.D * (a.Causal ? 0.5 : 1.0);
            string key = $"K4/{a.B}x{a.H}x{a.T}x{a.D}{(a.Causal ? "/causal" : "")}";
            int r = a.T >= 1024 ? Math.Max(3, rounds / 3) : rounds;

            var s = new AttentionShape(a.B, a.H, a.T, a.T, a.D, a.D, sc, a.Causal);
            var l = AttentionLayout.Contiguous(a.H, a.T, a.D);
            float[] qa = q.ToArray(), ka = k.ToArray(), va = v.ToArray(), ga = go.ToArray();
            float[] o = new float[qa.Length], lse = new float[a.B * a.H * a.T], dq = new float[qa.Length], dk = new float[qa.Length], dv = new float[qa.Length];
            Report($"{key} kernel V1Flash forward", r, fwd, ("fwd", () => Attention.Forward(qa, l, ka, l, va, l, o, lse, s)));
            Report($"{key} kernel V1Flash backward (2× the forward's FLOPs)", r, 2 * fwd,
                ("bwd", () => Attention.Backward(qa, l, ka, l, va, l, o, lse, ga, l, dq, dk, dv, s)));
            Report($"{key} fwd", r, fwd,
                ("composed (before)", () => { using var t = TensorScope.Begin(); using (Autograd.NoGrad()) F.ScaledDotProductAttentionComposed(q, k, v, null, a.Causal, sc); }),
                ("fused", () => { using var t = TensorScope.Begin(); using (Autograd.NoGrad()) F.ScaledDotProductAttention(q, k, v, isCausal: a.Causal); }));
            Report($"{key} fwdbwd", r, 3 * fwd,
                ("composed (before)", () => { using var t = TensorScope.Begin(); Autograd.Grad([F.ScaledDotProductAttentionComposed(q, k, v, null, a.Causal, sc)], [q, k, v], [go]); }),
                ("fused", () => { using var t = TensorScope.Begin(); Autograd.Grad([F.ScaledDotProductAttention(q, k, v, isCausal: a.Causal)], [q, k, v], [go]); }));
        }
        AttentionInModels(rounds);
        return 0;
    }

    /// <summary>Attention's share of M1 and M3: the same step with F.ScaledDotProductAttention composed
    /// (before) and fused, interleaved.</summary>
    static void AttentionInModels(int rounds)
    {
        Action WithPath(bool fused, Action body) => () =>
        {
            F.UseFusedAttention = fused;
            try { body(); } finally { F.UseFusedAttention = true; }
        };

        // M1's attention block: GroupNorm(8,128) → qkv → 4 heads of 32 at 7×7 → proj → + x, B = 64.
        var block = new Denoise.Models.Common.SelfAttention(128, 4, 8, new Generator(60));
        var x = Tensor.Randn([64, 128, 7, 7], new Generator(61)).RequiresGrad_();
        var gx = Tensor.Randn([64, 128, 7, 7], new Generator(62));
        void BlockStep() { using var s = TensorScope.Begin(); block.Forward(x).Backward(gx); }
        Report("M1 attention block (SelfAttention 128 ch, 7×7, B=64) fwd+bwd", rounds, null,
            ("composed (before)", WithPath(false, BlockStep)), ("fused", WithPath(true, BlockStep)));

        // M3 training step, as the WORKLOADS runner times it.
        var net = new Networks.GptChar(gen: new Generator(50));
        var opt = new Denoise.Optim.AdamW(net.Parameters(), lr: 3e-4f, weightDecay: 0.1f);
        var ids = Tensor.Randint(0, 96, [32, 128], new Generator(51));
        var targets = Tensor.Randint(0, 96, [32 * 128], new Generator(52));
        void GptStep()
        {
            using var s = TensorScope.Begin();
            opt.ZeroGrad();
            F.CrossEntropy(net.Forward(ids).Reshape(32 * 128, 96), targets).Backward();
            opt.Step();
        }
        Report("M3/step (GPT-char, B=32, T=128)", rounds, null,
            ("composed (before)", WithPath(false, GptStep)), ("fused", WithPath(true, GptStep)));
    }

    // --cpu-time: one thread (WorkerPool.Threads = 1, Gemm.MaxThreads = 1) and the calling thread's CPU
    // time instead of wall time. On a machine loaded far beyond its cores, wall time mostly measures
    // the queue; CPU time of one thread still ranks versions (cache and SMT contention remain).
    internal static bool threadCpuTime;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGettime(int clock, out Timespec ts);

    struct Timespec { public long Sec, Nsec; }

    static double ThreadCpuMs()
    {
        ClockGettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t);
        return t.Sec * 1e3 + t.Nsec / 1e6;
    }

    /// <summary>Interleaves the variants round by round so drifting machine load hits them alike.</summary>
    internal static void Report(string what, int rounds, double? flops, params (string Name, Action Body)[] variants)
    {
        // Warm each variant into steady state: .NET's tiered JIT runs a method's first ~30 calls as
        // unoptimised tier-0 code, so two warm-up calls would time the JIT (see Workloads.Time).
        foreach (var v in variants)
        {
            var warm = Stopwatch.StartNew();
            for (int i = 0; i < 2 || (warm.Elapsed.TotalSeconds < 0.3 && i < 200); i++) v.Body();
        }
        var ms = variants.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < variants.Length; i++)
            {
                if (threadCpuTime)
                {
                    double c0 = ThreadCpuMs();
                    variants[i].Body();
                    ms[i].Add(ThreadCpuMs() - c0);
                    continue;
                }
                long t0 = Stopwatch.GetTimestamp();
                variants[i].Body();
                ms[i].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        Console.WriteLine(threadCpuTime ? what + "  [thread CPU time, 1 thread]" : what);
        for (int i = 0; i < variants.Length; i++)
        {
            ms[i].Sort();
            double med = ms[i][ms[i].Count / 2];
            string rate = flops is double f ? $"  {f / (med * 1e6),7:F1} GFLOP/s" : "";
            Console.WriteLine($"  {variants[i].Name,-28} median {med,8:F2} ms  (min {ms[i][0]:F2}, max {ms[i][^1]:F2}){rate}");
        }
    }
}
