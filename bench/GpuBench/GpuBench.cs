// GpuBench.cs — parity checks and timings of the GPU kernels (kernels/Gpu) on the best accelerator
// ILGPU finds (CUDA, then OpenCL, then the CPU accelerator), printed as one JSON object.
//
//   dotnet run -c Release --project bench/GpuBench -- [--device cuda:0|opencl:0|ilgpu-cpu] [--quick]
//                                                     [--out result.json] [--ptx-dir dir]
//                                                     [--only parity,gemm,…] [--skip models,…] [--models-all]
//   On a GPU machine without .NET: bench/gpu/publish.sh here, then bench/gpu/run-on-device.sh there.
//
// What it does, in order (each step is recorded even when a later one fails, e.g. the H100 crash
// reported for ILGPU 1.5.1, issue #1540):
//   1. device: name, architecture, ISA, driver; kernel load (compile + driver JIT) times
//   2. parity on the device: every GEMM version and transpose case vs the CPU GEMM at 257×129×65,
//      V1–V3 vs V0 on the device at n = 1024; Philox bits/uniform bit-exact and normals vs the CPU;
//      Map and AdamW vs the CPU kernels
//   3. GEMM GFLOP/s (2·n³ / median time) for V0–V3 at n = 1024, 2048, 4096, NN; the current version
//      also NT and TN at 4096
//   4. Map: Binary<Add> and Unary<SiLU> over 16M floats, GB/s counted as bytes read + written
//   4b. fused ops (kernels/Gpu/Attention, kernels/Gpu/Norm): parity of both flash attention versions vs
//      the CPU kernel (forward and backward, K4's first shape and a causal d = 64 one), then timings keyed as
//      bench/peer/gpu_fused.py keys PyTorch's: K4 attention at the WORKLOADS shapes (fwd, fwdbwd; the
//      last causal), LayerNorm over M3's (4096, 128) rows, softmax over K4/M3 score rows, and K2's
//      conv2d forward with both versions (V0 im2col + GEMM, V1 implicit GEMM)
//   5. the engine on the device (Device.Parse of --device, or Device.Best): one M2 training step
//      (WORKLOADS: Mlp2D 256 wide, batch 512, MSE, Adam 1e-3) — median step time, host fallbacks per op
//      (DeviceFallbacks; 0 means the whole step ran in kernels), allocator figures (driver allocations
//      after warm-up, peak MiB) and every kernel's first-launch compile time
//   5b. the engine's fused ops on the device against the compositions they replaced (forward +
//      backward through autograd, ms): F.ScaledDotProductAttention at the K4 shapes, F.LayerNorm,
//      softmax — what this change buys a training step there
//   5c. models: the WORKLOADS M1–M4 steps and samplers on the device (GpuBench.Models.cs), keyed as
//      bench/peer/gpu_models.py keys PyTorch's (reduced, labelled sizes on the CPU accelerator)
//   6. optional: the PTX of every loaded kernel into --ptx-dir (for ptxas / cuobjdump -sass there)
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Denoise.Kernels.Gpu;
using Denoise.Kernels.Ops;
using ILGPU;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using CpuGemm = Denoise.Kernels.Cpu.Gemm;
using CpuMap = Denoise.Kernels.Cpu.Map;
using CpuPhilox = Denoise.Kernels.Philox;

namespace Denoise.Bench.Gpu;

public static partial class GpuBench
{
    public static int Main(string[] args)
    {
        bool quick = args.Contains("--quick");
        string? outPath = Arg(args, "--out"), ptxDir = Arg(args, "--ptx-dir");
        // Sections: parity, gemm, map, fused, engine_m2, engine_fused, models, ptx (with --ptx-dir).
        string[]? only = Arg(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        string[] skip = Arg(args, "--skip")?.Split(',', StringSplitOptions.RemoveEmptyEntries) ?? [];
        bool Want(string section) => (only is null || only.Contains(section)) && !skip.Contains(section);
        var result = new JsonObject { ["bench"] = "gpu", ["started"] = DateTime.UtcNow.ToString("o") };
        int rc = 0;
        try
        {
            var sw = Stopwatch.StartNew();
            string? deviceName = Arg(args, "--device");
            using var gpu = deviceName is null ? GpuContext.Best() : ContextFor(deviceName);
            result["device"] = gpu.Describe();
            result["kind"] = gpu.Kind.ToString();
            result["context_ms"] = sw.Elapsed.TotalMilliseconds;
            Log($"device: {gpu.Describe()}");
            bool onCpu = gpu.Kind == GpuKind.CpuAccelerator;
            if (Want("parity")) Step(result, "parity", () => Parity(gpu, quick || onCpu), ref rc);
            int[] sizes = onCpu ? [64] : quick ? [1024] : [1024, 2048, 4096];   // the CPU accelerator only proves the plumbing
            if (Want("gemm")) Step(result, "gemm", () => GemmTimings(gpu, sizes), ref rc);
            if (Want("map")) Step(result, "map", () => MapTimings(gpu, onCpu ? 1 << 16 : 1 << 24), ref rc);
            if (Want("fused")) Step(result, "fused", () => FusedTimings(gpu, onCpu), ref rc);
            if (Want("engine_m2")) Step(result, "engine_m2", () => EngineM2(deviceName, onCpu), ref rc);
            if (Want("engine_fused")) Step(result, "engine_fused", () => EngineFused(deviceName, onCpu), ref rc);
            if (Want("models")) Step(result, "models", () => Models(deviceName, quick, onCpu, args.Contains("--models-all")), ref rc);
            result["kernel_load_ms"] = new JsonObject(gpu.Kernels.CompileMilliseconds.OrderBy(kv => kv.Key)
                .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 1))));
            if (ptxDir is not null && Want("ptx")) Step(result, "ptx", () => DumpPtx(gpu, ptxDir), ref rc);
        }
        catch (Exception e)
        {
            result["error"] = e.ToString();
            rc = 1;
        }
        string json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (outPath is not null) File.WriteAllText(outPath, json);
        return rc;
    }

    // ---- 2. parity ---------------------------------------------------------------------------

    static JsonNode Parity(GpuContext gpu, bool small)
    {
        var r = new JsonObject();
        var acc = gpu.Accelerator;
        // GEMM vs CPU at an awkward shape, every version and transpose case
        {
            int M = small ? 65 : 257, N = small ? 33 : 129, K = small ? 17 : 65;
            foreach (var v in Enum.GetValues<GpuGemmVersion>())
                foreach (var (tA, tB) in new[] { (false, false), (false, true), (true, false), (true, true) })
                {
                    var A = Rand(1, M * K); var B = Rand(2, K * N); var C = new float[M * N];
                    int lda = tA ? M : K, ldb = tB ? K : N;
                    CpuGemm.V0Naive(tA, tB, M, N, K, 1f, A, lda, B, ldb, 0f, C, N);
                    using var dA = acc.Allocate1D(A); using var dB = acc.Allocate1D(B); using var dC = acc.Allocate1D<float>(M * N);
                    Gemm.Run(gpu, v, tA, tB, M, N, K, 1f, dA.View, lda, dB.View, ldb, 0f, dC.View, N);
                    r[$"gemm_{v}_{(tA ? "T" : "N")}{(tB ? "T" : "N")}_{M}x{N}x{K}_max_abs_err"] = MaxAbsDiff(C, dC.GetAsArray1D());
                }
        }
        // V1–V3 vs V0 on the device at a large square size (no CPU reference: it would take minutes)
        if (!small)
        {
            int n = 1024;
            using var dA = acc.Allocate1D(Rand(3, n * n)); using var dB = acc.Allocate1D(Rand(4, n * n));
            using var d0 = acc.Allocate1D<float>(n * n); using var d1 = acc.Allocate1D<float>(n * n);
            Gemm.Run(gpu, GpuGemmVersion.V0Naive, false, false, n, n, n, 1f, dA.View, n, dB.View, n, 0f, d0.View, n);
            var reference = d0.GetAsArray1D();
            foreach (var v in new[] { GpuGemmVersion.V1Tiled, GpuGemmVersion.V2Register, GpuGemmVersion.V3Register8 })
            {
                Gemm.Run(gpu, v, false, false, n, n, n, 1f, dA.View, n, dB.View, n, 0f, d1.View, n);
                r[$"gemm_{v}_vs_V0_{n}_max_abs_err"] = MaxAbsDiff(reference, d1.GetAsArray1D());
            }
        }
        // Philox: bits and uniforms must be bit-identical; normals within a few ulp on CUDA
        {
            int n = small ? 10_001 : 1_000_003;
            ulong seed = 1234, offset = 0xffff_fff0;
            var bits = new uint[n]; CpuPhilox.FillBits(bits, seed, offset);
            using var db = acc.Allocate1D<uint>(n); PhiloxKernel.FillBits(gpu, db.View, seed, offset);
            r["philox_bits_mismatches"] = bits.Zip(db.GetAsArray1D()).Count(p => p.First != p.Second);
            var u = new float[n]; CpuPhilox.FillUniform(u, seed, offset);
            using var du = acc.Allocate1D<float>(n); PhiloxKernel.FillUniform(gpu, du.View, seed, offset);
            r["philox_uniform_mismatches"] = u.Zip(du.GetAsArray1D()).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
            var z = new float[n]; CpuPhilox.FillNormal(z, seed, offset);
            PhiloxKernel.FillNormal(gpu, du.View, seed, offset);
            var zg = du.GetAsArray1D();
            r["philox_normal_bit_mismatches"] = z.Zip(zg).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
            r["philox_normal_max_abs_err"] = MaxAbsDiff(z, zg);
        }
        // Map and AdamW vs the CPU kernels
        {
            int n = 100_003;
            var x = Rand(5, n); var y = new float[n];
            CpuMap.Unary<SiLU>(x, y);
            using var dx = acc.Allocate1D(x); using var dy = acc.Allocate1D<float>(n);
            Map.Unary<SiLU>(gpu, dx.View, dy.View);
            r["map_silu_max_abs_err"] = MaxAbsDiff(y, dy.GetAsArray1D());
            CpuMap.Unary<GeluTanh>(x, y);
            Map.Unary<GeluTanh>(gpu, dx.View, dy.View);
            r["map_gelu_tanh_max_abs_err"] = MaxAbsDiff(y, dy.GetAsArray1D());

            var p = Rand(6, n); var g = Rand(7, n); var m = new float[n]; var v = new float[n];
            using var dp = acc.Allocate1D(p); using var dg = acc.Allocate1D(g); using var dm = acc.Allocate1D(m); using var dv = acc.Allocate1D(v);
            Denoise.Kernels.Cpu.AdamKernel.Step(p, g, m, v, default, 0.9f, 0.999f, 1e-8f, 0f, 0.999f, 0.01f, 0.0316f);
            AdamKernel.Step(gpu, dp.View, dg.View, dm.View, dv.View, dp.View.SubView(0, 0), new AdamStep(0.9f, 0.999f, 1e-8f, 0f, 0.999f, 0.01f, 0.0316f, false));
            r["adamw_p_max_abs_err"] = MaxAbsDiff(p, dp.GetAsArray1D());
        }
        return r;
    }

    // ---- 3. GEMM timings ---------------------------------------------------------------------

    static JsonNode GemmTimings(GpuContext gpu, int[] sizes)
    {
        var r = new JsonArray();
        var acc = gpu.Accelerator;
        foreach (int n in sizes)
        {
            using var dA = acc.Allocate1D(Rand(8, n * n)); using var dB = acc.Allocate1D(Rand(9, n * n));
            using var dC = acc.Allocate1D<float>(n * n);
            foreach (var v in Enum.GetValues<GpuGemmVersion>())
                foreach (var (tA, tB) in v == Gemm.Current && n == sizes[^1] ? new[] { (false, false), (false, true), (true, false) } : [(false, false)])
                {
                    double ms = TimeMs(gpu, () => Gemm.Run(gpu, v, tA, tB, n, n, n, 1f, dA.View, n, dB.View, n, 0f, dC.View, n));
                    double gflops = 2.0 * n * n * (double)n / (ms * 1e6);
                    string op = $"{(tA ? "T" : "N")}{(tB ? "T" : "N")}";
                    Log($"gemm {v} {op} n={n}: {ms:F3} ms, {gflops:F0} GFLOP/s");
                    r.Add(new JsonObject { ["version"] = v.ToString(), ["op"] = op, ["n"] = n, ["ms"] = Math.Round(ms, 4), ["gflops"] = Math.Round(gflops, 1) });
                }
        }
        return r;
    }

    // ---- 4. Map timings ----------------------------------------------------------------------

    static JsonNode MapTimings(GpuContext gpu, int n)
    {
        var acc = gpu.Accelerator;
        using var a = acc.Allocate1D(Rand(10, n)); using var b = acc.Allocate1D(Rand(11, n)); using var y = acc.Allocate1D<float>(n);
        double add = TimeMs(gpu, () => Map.Binary<Add>(gpu, a.View, b.View, y.View));
        double silu = TimeMs(gpu, () => Map.Unary<SiLU>(gpu, a.View, y.View));
        Log($"map n={n}: add {add:F3} ms ({12.0 * n / (add * 1e6):F0} GB/s), silu {silu:F3} ms ({8.0 * n / (silu * 1e6):F0} GB/s)");
        return new JsonObject
        {
            ["n"] = n,
            ["add_ms"] = Math.Round(add, 4), ["add_gbps"] = Math.Round(12.0 * n / (add * 1e6), 1),
            ["silu_ms"] = Math.Round(silu, 4), ["silu_gbps"] = Math.Round(8.0 * n / (silu * 1e6), 1),
        };
    }

    // ---- 4b. fused ops: flash attention, LayerNorm, softmax -----------------------------------

    /// <summary>WORKLOADS K4 shapes (B, heads, T, d, causal); the CPU accelerator gets toy ones (plumbing only).</summary>
    static (int B, int H, int T, int D, bool Causal)[] K4Shapes(bool onCpu) => onCpu
        ? [(2, 2, 13, 8, false), (1, 2, 17, 16, true)]
        : [(64, 4, 49, 32, false), (32, 4, 128, 32, false), (8, 8, 1024, 64, true)];

    static JsonNode FusedTimings(GpuContext gpu, bool onCpu)
    {
        var r = new JsonObject();
        var acc = gpu.Accelerator;
        // Parity of the flash kernels against the CPU's fused kernel (itself tested against V0).
        foreach (var (B, H, T, D, causal) in onCpu ? K4Shapes(true) : [(64, 4, 49, 32, false), (2, 4, 200, 64, true)])
        {
            var s = new Denoise.Kernels.Cpu.AttentionShape(B, H, T, T, D, D, 1f / MathF.Sqrt(D), causal);
            int n = B * H * T * D;
            var q = Rand(20, n); var k = Rand(21, n); var v = Rand(22, n); var g = Rand(23, n);
            var l = Denoise.Kernels.Cpu.AttentionLayout.Contiguous(H, T, D);
            var o = new float[n]; var lse = new float[B * H * T]; var dq = new float[n]; var dk = new float[n]; var dv = new float[n];
            Denoise.Kernels.Cpu.Attention.Forward(q, l, k, l, v, l, o, lse, s);
            Denoise.Kernels.Cpu.Attention.Backward(q, l, k, l, v, l, o, lse, g, l, dq, dk, dv, s);
            var fl = FlashLayout.Contiguous(H, T, D);
            var a = new FlashArgs(B, H, T, T, D, D, s.Scale, causal, 0, 0, fl, fl, fl, fl);
            using var gq = acc.Allocate1D(q); using var gk = acc.Allocate1D(k); using var gv = acc.Allocate1D(v); using var gg = acc.Allocate1D(g);
            using var go = acc.Allocate1D<float>(n); using var gl = acc.Allocate1D<float>(B * H * T); using var delta = acc.Allocate1D<float>(B * H * T);
            using var gdq = acc.Allocate1D<float>(n); using var gdk = acc.Allocate1D<float>(n); using var gdv = acc.Allocate1D<float>(n);
            foreach (var version in Enum.GetValues<GpuAttentionVersion>())
            {
                FlashAttention.Forward(gpu, version, gq.View, gk.View, gv.View, go.View, gl.View, a);
                FlashAttention.Backward(gpu, version, gq.View, gk.View, gv.View, go.View, gl.View, gg.View, delta.View, gdq.View, gdk.View, gdv.View, a);
                string key = $"attention_{version}_{B}x{H}x{T}x{D}{(causal ? "_causal" : "")}";
                r[$"{key}_o_max_abs_err"] = MaxAbsDiff(o, go.GetAsArray1D());
                r[$"{key}_lse_max_abs_err"] = MaxAbsDiff(lse, gl.GetAsArray1D());
                r[$"{key}_dq_max_abs_err"] = MaxAbsDiff(dq, gdq.GetAsArray1D());
                r[$"{key}_dk_max_abs_err"] = MaxAbsDiff(dk, gdk.GetAsArray1D());
                r[$"{key}_dv_max_abs_err"] = MaxAbsDiff(dv, gdv.GetAsArray1D());
            }
        }
        var results = new JsonObject();
        r["results"] = results;
        // K4: flash forward, and forward + backward (FA-2 counting: fwd+bwd = 3.5× the forward's FLOPs).
        foreach (var (B, H, T, D, causal) in K4Shapes(onCpu))
        {
            int n = B * H * T * D;
            var fl = FlashLayout.Contiguous(H, T, D);
            var a = new FlashArgs(B, H, T, T, D, D, 1f / MathF.Sqrt(D), causal, 0, 0, fl, fl, fl, fl);
            using var gq = acc.Allocate1D(Rand(24, n)); using var gk = acc.Allocate1D(Rand(25, n)); using var gv = acc.Allocate1D(Rand(26, n));
            using var gg = acc.Allocate1D(Rand(27, n));
            using var go = acc.Allocate1D<float>(n); using var gl = acc.Allocate1D<float>(B * H * T); using var delta = acc.Allocate1D<float>(B * H * T);
            using var gdq = acc.Allocate1D<float>(n); using var gdk = acc.Allocate1D<float>(n); using var gdv = acc.Allocate1D<float>(n);
            foreach (var version in Enum.GetValues<GpuAttentionVersion>())
            {
                void Fwd() => FlashAttention.Forward(gpu, version, gq.View, gk.View, gv.View, go.View, gl.View, a);
                double fwd = TimeMs(gpu, Fwd);
                double fwdbwd = TimeMs(gpu, () =>
                {
                    Fwd();
                    FlashAttention.Backward(gpu, version, gq.View, gk.View, gv.View, go.View, gl.View, gg.View, delta.View, gdq.View, gdk.View, gdv.View, a);
                });
                double flops = new Denoise.Kernels.Cpu.AttentionShape(B, H, T, T, D, D, 1f, causal).ForwardFlops;
                string key = $"K4/{B}x{H}x{T}x{D}{(causal ? "/causal" : "")}";
                results[$"{key}/fwd/{version}"] = new JsonObject { ["ms"] = Math.Round(fwd, 4), ["gflops"] = Math.Round(flops / (fwd * 1e6), 1) };
                results[$"{key}/fwdbwd/{version}"] = new JsonObject { ["ms"] = Math.Round(fwdbwd, 4), ["gflops"] = Math.Round(3.5 * flops / (fwdbwd * 1e6), 1) };
                Log($"{key} {version}: fwd {fwd:F3} ms ({flops / (fwd * 1e6):F0} GFLOP/s), fwd+bwd {fwdbwd:F3} ms");
            }
        }
        // LayerNorm over M3's rows (batch 32 × context 128, d_model 128), with γ, β and their gradients.
        {
            int R = onCpu ? 64 : 4096, D = 128, n = R * D;
            using var x = acc.Allocate1D(Rand(28, n)); using var dy = acc.Allocate1D(Rand(29, n));
            using var gamma = acc.Allocate1D(Rand(30, D)); using var beta = acc.Allocate1D(Rand(31, D));
            using var y = acc.Allocate1D<float>(n); using var dx = acc.Allocate1D<float>(n);
            using var mean = acc.Allocate1D<float>(R); using var rstd = acc.Allocate1D<float>(R);
            using var dg = acc.Allocate1D<float>(D); using var db = acc.Allocate1D<float>(D);
            using var partials = acc.Allocate1D<float>(Denoise.Kernels.Gpu.LayerNorm.PartialsLength(gpu, R, D));
            void Fwd() => Denoise.Kernels.Gpu.LayerNorm.Forward(gpu, x.View, gamma.View, beta.View, y.View, mean.View, rstd.View, D, 1e-5f);
            double fwd = TimeMs(gpu, Fwd);
            double fwdbwd = TimeMs(gpu, () =>
            {
                Fwd();
                Denoise.Kernels.Gpu.LayerNorm.Backward(gpu, x.View, dy.View, gamma.View, mean.View, rstd.View, dx.View, dg.View, db.View, partials.View, D);
            });
            // Bytes: forward reads x, writes y; backward reads x, dy (twice: rows, then γ/β partials) and writes dx.
            results[$"LN/{R}x{D}/fwd"] = new JsonObject { ["ms"] = Math.Round(fwd, 4), ["gbps"] = Math.Round(8.0 * n / (fwd * 1e6), 1) };
            results[$"LN/{R}x{D}/fwdbwd"] = new JsonObject { ["ms"] = Math.Round(fwdbwd, 4), ["gbps"] = Math.Round(28.0 * n / (fwdbwd * 1e6), 1) };
            Log($"LN {R}x{D}: fwd {fwd:F3} ms, fwd+bwd {fwdbwd:F3} ms");
        }
        // Softmax over score rows: K4's (64·4·49, 49), M3's (32·4·128, 128), K4's causal (8·8·1024, 1024).
        foreach (var (R, L) in onCpu ? new[] { (64, 49) } : [(64 * 4 * 49, 49), (32 * 4 * 128, 128), (8 * 8 * 1024, 1024)])
        {
            long n = (long)R * L;
            using var x = acc.Allocate1D(Rand(32, (int)n)); using var dy = acc.Allocate1D(Rand(33, (int)n));
            using var y = acc.Allocate1D<float>(n); using var dx = acc.Allocate1D<float>(n);
            void Fwd() => Denoise.Kernels.Gpu.Softmax.Forward(gpu, x.View, y.View, L, false);
            double fwd = TimeMs(gpu, Fwd);
            double fwdbwd = TimeMs(gpu, () => { Fwd(); Denoise.Kernels.Gpu.Softmax.Backward(gpu, y.View, dy.View, dx.View, L, false); });
            results[$"softmax/{R}x{L}/fwd"] = new JsonObject { ["ms"] = Math.Round(fwd, 4), ["gbps"] = Math.Round(8.0 * n / (fwd * 1e6), 1) };
            results[$"softmax/{R}x{L}/fwdbwd"] = new JsonObject { ["ms"] = Math.Round(fwdbwd, 4), ["gbps"] = Math.Round(20.0 * n / (fwdbwd * 1e6), 1) };
            Log($"softmax {R}x{L}: fwd {fwd:F3} ms, fwd+bwd {fwdbwd:F3} ms");
        }
        // K2 conv2d forward (3×3, stride 1, pad 1; bias excluded: the engine adds it as a broadcast), both versions.
        foreach (var (N, Cin, H, Cout) in onCpu ? new[] { (2, 3, 6, 4) } : [(64, 1, 28, 32), (64, 32, 28, 32), (64, 64, 14, 64), (64, 128, 7, 128)])
        {
            var g = new ConvGeometry(Cin, H, H, 3, 3, 1, 1, 1, 1, 1, 1, H, H);
            using var x = acc.Allocate1D(Rand(34, N * Cin * H * H)); using var w = acc.Allocate1D(Rand(35, Cout * Cin * 9));
            using var y = acc.Allocate1D<float>(N * Cout * H * H); using var y0 = acc.Allocate1D<float>(N * Cout * H * H);
            using var col = acc.Allocate1D<float>(g.ColRows * g.P);
            double flops = 2.0 * N * Cout * H * H * Cin * 9;
            var gemm = onCpu ? GpuGemmVersion.V0Naive : Gemm.Current;
            Conv2d.Forward(gpu, GpuConvVersion.V0Im2Col, gemm, x.View, w.View, y0.View, col.View, N, Cout, 1, g);
            var reference = y0.GetAsArray1D();
            foreach (var version in Enum.GetValues<GpuConvVersion>())
            {
                double ms = TimeMs(gpu, () => Conv2d.Forward(gpu, version, gemm, x.View, w.View, y.View, col.View, N, Cout, 1, g));
                string key = $"K2/{N}x{Cin}x{H}x{H}x{Cout}/fwd/{version}";
                results[key] = new JsonObject
                {
                    ["ms"] = Math.Round(ms, 4), ["gflops"] = Math.Round(flops / (ms * 1e6), 1),
                    ["max_abs_err_vs_V0"] = MaxAbsDiff(reference, y.GetAsArray1D()),
                };
                Log($"{key}: {ms:F3} ms ({flops / (ms * 1e6):F0} GFLOP/s)");
            }
        }
        return r;
    }

    // ---- 5. PTX dump ------------------------------------------------------------------------

    static JsonNode DumpPtx(GpuContext gpu, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new JsonArray();
        foreach (var (key, launcher) in gpu.Kernels.Launchers)
            if (launcher.GetCompiledKernel() is PTXCompiledKernel ptx)
            {
                string file = Path.Combine(dir, string.Concat(key.Select(c => char.IsLetterOrDigit(c) ? c : '_')) + ".ptx");
                File.WriteAllText(file, ptx.PTXAssembly);
                files.Add(Path.GetFileName(file));
            }
        return files;
    }

    // ---- helpers ----------------------------------------------------------------------------

    /// <summary>Median of timed runs after one warm-up (which also loads the kernel): at least 3 runs,
    /// more until 0.5 s has passed, at most 50.</summary>
    static double TimeMs(GpuContext gpu, Action run)
    {
        run(); gpu.Synchronize();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || (total.Elapsed.TotalSeconds < 0.5 && times.Count < 50))
        {
            var sw = Stopwatch.StartNew();
            run(); gpu.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    static void Step(JsonObject result, string name, Func<JsonNode> body, ref int rc)
    {
        try { result[name] = body(); }
        catch (Exception e) { result[name + "_error"] = e.ToString(); rc = 1; Log($"{name} failed: {e.Message}"); }
    }

    static float[] Rand(int seed, int n)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = 2f * r.NextSingle() - 1f;
        return a;
    }

    static double MaxAbsDiff(float[] a, float[] b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    /// <summary>The kernel-level context for a --device name (the engine step parses the same name with Device.Parse).</summary>
    static GpuContext ContextFor(string name)
    {
        string s = name.Trim().ToLowerInvariant();
        int Index(string prefix) => s == prefix ? 0 : int.Parse(s[(prefix.Length + 1)..]);
        if (s.StartsWith("cuda")) return GpuContext.Cuda(Index("cuda"));
        if (s.StartsWith("opencl")) return GpuContext.OpenCL(Index("opencl"));
        if (s == "ilgpu-cpu") return GpuContext.CpuAccelerator();
        throw new ArgumentException($"--device {name}: expected cuda[:N], opencl[:N] or ilgpu-cpu.");
    }

    // ---- 5. the engine on the device: an M2 training step ------------------------------------

    static JsonNode EngineM2(string? deviceName, bool small)
    {
        var device = deviceName is null ? Device.Best(Console.Error) : Device.Parse(deviceName);
        int hidden = small ? 32 : 256, batch = small ? 16 : 512, warmup = small ? 1 : 5, steps = small ? 3 : 30;
        var model = new Denoise.Models.Common.Mlp2D(hidden, new Generator(0));
        model.To(device);
        var opt = new Denoise.Optim.Adam(model.Parameters(), lr: 1e-3f);
        var gen = new Generator(1);
        var x = Tensor.Randn([batch, 2], gen).To(device);
        var t = Tensor.Rand([batch], gen).To(device);
        var target = Tensor.Randn([batch, 2], gen).To(device);
        float Step()
        {
            using var scope = TensorScope.Begin();
            var loss = F.MseLoss(model.Forward(x, t), target);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
            return loss.Item();   // synchronises: the step's kernels have finished
        }
        for (int i = 0; i < warmup; i++) Step();
        var gpuDevice = device as GpuDevice;
        long allocsAfterWarmup = gpuDevice?.Memory.DeviceAllocations ?? 0;
        DeviceFallbacks.Reset();
        var ms = new List<double>();
        float loss = 0;
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            loss = Step();
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        ms.Sort();
        var r = new JsonObject
        {
            ["device"] = device.Name, ["hidden"] = hidden, ["batch"] = batch, ["steps"] = steps,
            ["step_ms_median"] = Math.Round(ms[ms.Count / 2], 3), ["step_ms_min"] = Math.Round(ms[0], 3), ["loss"] = loss,
            ["host_fallbacks"] = DeviceFallbacks.Total,
            ["host_fallbacks_by_op"] = new JsonObject(DeviceFallbacks.Counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        if (gpuDevice is not null)
        {
            r["driver_allocations_after_warmup"] = gpuDevice.Memory.DeviceAllocations - allocsAfterWarmup;
            r["peak_mib"] = Math.Round(gpuDevice.Memory.PeakBytes / (1024.0 * 1024), 2);
            r["kernel_load_ms"] = new JsonObject(gpuDevice.KernelCompileMilliseconds.OrderBy(kv => kv.Key)
                .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 1))));
        }
        Log($"engine M2 step on {device.Name}: median {ms[ms.Count / 2]:F2} ms, {DeviceFallbacks.Total} host fallbacks");
        return r;
    }

    // ---- 5b. the engine's fused ops vs their compositions ----------------------------------------

    static JsonNode EngineFused(string? deviceName, bool small)
    {
        var device = deviceName is null ? Device.Best(Console.Error) : Device.Parse(deviceName);
        var gen = new Generator(2);
        var r = new JsonObject { ["device"] = device.Name };
        double Time(Func<Tensor[], Tensor> f, Tensor[] inputs)
        {
            double Once()
            {
                using var scope = TensorScope.Begin();
                var sw = Stopwatch.StartNew();
                f(inputs).Sum().Backward();                    // leaf grads accumulate in place (persistent buffers)
                inputs[0].Grad!.Sum().Item();                  // synchronises: every kernel of the step has finished
                return sw.Elapsed.TotalMilliseconds;
            }
            Once();
            var ms = Enumerable.Range(0, small ? 2 : 10).Select(_ => Once()).Order().ToList();
            return Math.Round(ms[ms.Count / 2], 4);
        }
        Tensor Rand(params int[] shape)
        {
            using (TensorScope.Suspend()) return Tensor.Randn(shape, gen).To(device).RequiresGrad_();
        }
        foreach (var (B, H, T, D, causal) in K4Shapes(small))
        {
            var qkv = new[] { Rand(B, H, T, D), Rand(B, H, T, D), Rand(B, H, T, D) };
            string key = $"K4/{B}x{H}x{T}x{D}{(causal ? "/causal" : "")}/fwdbwd";
            r[key] = new JsonObject
            {
                ["fused_ms"] = Time(t => F.ScaledDotProductAttention(t[0], t[1], t[2], isCausal: causal), qkv),
                ["composed_ms"] = Time(t => F.ScaledDotProductAttentionComposed(t[0], t[1], t[2], null, causal, 1f / MathF.Sqrt(D)), qkv),
            };
        }
        {
            int R = small ? 64 : 4096;
            var x = new[] { Rand(R, 128), Rand(128), Rand(128) };
            r[$"LN/{R}x128/fwdbwd"] = new JsonObject
            {
                ["fused_ms"] = Time(t => F.LayerNorm(t[0], 128, t[1], t[2]), x),
                ["composed_ms"] = Time(t => F.LayerNormComposed(t[0], [128], t[1], t[2]), x),
            };
        }
        foreach (var (R, L) in small ? new[] { (64, 49) } : [(64 * 4 * 49, 49), (8 * 8 * 1024, 1024)])
        {
            var x = new[] { Rand(R, L) };
            r[$"softmax/{R}x{L}/fwdbwd"] = new JsonObject
            {
                ["fused_ms"] = Time(t => t[0].Softmax(-1), x),
                ["composed_ms"] = Time(t => t[0].SoftmaxComposed(-1), x),
            };
        }
        Log($"engine fused vs composed on {device.Name}: {r.ToJsonString()}");
        return r;
    }

    static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    static void Log(string s) => Console.Error.WriteLine(s);
}
