// GemmCompare.cs — the GEMM versions side by side (interleaved rounds, one process) on the shapes the
// workloads actually run: K1's squares, the M2 MLP step's three GEMMs per Linear (forward x·Wᵀ,
// input-grad g·W, weight-grad gᵀ·x) including the narrow 256→2 and 3→256 layers, and M3's Linears
// (B·T = 4096 rows). Each version is checked against V2 (bit for bit for V3) before timing.
//   --cpu-time: one thread, thread CPU time (load-robust: the work itself, not the run queue).
// Run: dotnet run -c Release --project bench -- gemm [--quick] [--cpu-time] [--only k1|m2|m3] [--versions V2Packed,V3Pooled]
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

public static class GemmCompare
{
    public static int Run(string[] args)
    {
        int rounds = args.Contains("--quick") ? 7 : 21;
        if (args.Contains("--cpu-time"))
        {
            KernelCompare.threadCpuTime = true;
            WorkerPool.Threads = 1; Gemm.MaxThreads = 1;
        }
        string? only = Opt(args, "--only");
        var versions = (Opt(args, "--versions") ?? "V2Packed,V3Pooled,V4Blocked,V5Swept").Split(',').Select(Enum.Parse<GemmVersion>).ToArray();
        var shapes = new List<(string Group, string Name, bool TA, bool TB, int M, int N, int K)>();
        foreach (int n in new[] { 256, 512, 1024, 2048 }) shapes.Add(("k1", $"K1 n={n}", false, false, n, n, n));
        shapes.AddRange(new[]
        {
            ("m2", "M2 256→256 fwd  x·Wᵀ", false, true, 512, 256, 256),
            ("m2", "M2 256→256 dX   g·W", false, false, 512, 256, 256),
            ("m2", "M2 256→256 dW   gᵀ·x", true, false, 256, 256, 512),
            ("m2", "M2 256→2 fwd    x·Wᵀ", false, true, 512, 2, 256),
            ("m2", "M2 256→2 dX     g·W", false, false, 512, 256, 2),
            ("m2", "M2 256→2 dW     gᵀ·x", true, false, 2, 256, 512),
            ("m2", "M2 3→256 fwd    x·Wᵀ", false, true, 512, 256, 3),
            ("m2", "M2 3→256 dW     gᵀ·x", true, false, 256, 3, 512),
            ("m3", "M3 qkv fwd 4096×384×128", false, true, 4096, 384, 128),
            ("m3", "M3 mlp-up dX 4096×128×512", false, false, 4096, 128, 512),
            ("m3", "M3 mlp-up dW 512×128×4096", true, false, 512, 128, 4096),
            ("m3", "M3 head fwd 4096×96×128", false, true, 4096, 96, 128),
        });
        foreach (var s in shapes)
        {
            if (only != null && s.Group != only) continue;
            if (args.Contains("--quick") && s.M * (long)s.N * s.K > (1L << 30)) continue;
            var rng = new Random(5);
            int lda = s.TA ? s.M : s.K, ldb = s.TB ? s.K : s.N;
            float[] A = Rand(rng, s.M * s.K), B = Rand(rng, s.K * s.N), C = new float[s.M * s.N], R = new float[s.M * s.N];
            Gemm.Run(GemmVersion.V2Packed, s.TA, s.TB, s.M, s.N, s.K, 1f, A, lda, B, ldb, 0f, R, s.N);
            foreach (var v in versions)
            {
                Gemm.Run(v, s.TA, s.TB, s.M, s.N, s.K, 1f, A, lda, B, ldb, 0f, C, s.N);
                // V3 must match V2 bit for bit; V4 splits K differently: within the dot-product bound.
                bool same = v == GemmVersion.V3Pooled ? C.AsSpan().SequenceEqual(R)
                    : C.Zip(R).All(p => Math.Abs(p.First - p.Second) <= 2e-6 * s.K);
                if (!same) throw new InvalidOperationException($"{v} differs from V2Packed on {s.Name}");
            }
            int r = s.M * (long)s.N * s.K >= (1L << 30) ? Math.Max(5, rounds / 3) : rounds;
            KernelCompare.Report($"{s.Name} ({(s.TA ? "T" : "N")}{(s.TB ? "T" : "N")}, M={s.M} N={s.N} K={s.K})", r, 2.0 * s.M * s.N * s.K,
                versions.Select(v => (v.ToString(), (Action)(() => Gemm.Run(v, s.TA, s.TB, s.M, s.N, s.K, 1f, A, lda, B, ldb, 0f, C, s.N)))).ToArray());
        }
        return 0;
    }

    static string? Opt(string[] args, string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }

    static float[] Rand(Random rng, int n) { var x = new float[n]; for (int i = 0; i < n; i++) x[i] = rng.NextSingle() * 2f - 1f; return x; }
}
