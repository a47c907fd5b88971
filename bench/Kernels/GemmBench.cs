// GemmBench.cs — times each GEMM version (kernels/Cpu/Gemm) on square n×n×n problems and
// reports GFLOP/s (2·n³ flops per call) in its own column beside the time. Every version is
// checked against V0Naive in GlobalSetup before it is timed, as in llm.c's dev/cuda.
// Peak for comparison (docs/MACHINE.md): 225 GFLOP/s one core, 445 two, AVX-512 FP32.
// Run (with a BenchmarkSwitcher in bench/Program.cs; GEMM_THREADS=1 for single-core figures):
//   dotnet run -c Release --project bench -- --filter '*GemmBench*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

[Config(typeof(GemmBenchConfig))]
public class GemmBench
{
    [Params(GemmVersion.V0Naive, GemmVersion.V1Reorder, GemmVersion.V2Packed, GemmVersion.V3Pooled, GemmVersion.V4Blocked, GemmVersion.V5Swept)]
    public GemmVersion Version { get; set; }

    [Params(256, 512, 1024)]
    public int N { get; set; }

    float[] a = [], b = [], c = [];

    [GlobalSetup]
    public void Setup()
    {
        // GEMM_THREADS=1 gives the single-core figures (V0 and V1 are single-threaded anyway).
        if (int.TryParse(Environment.GetEnvironmentVariable("GEMM_THREADS"), out int threads) && threads > 0)
            Gemm.MaxThreads = threads;
        var rng = new Random(42);
        a = Enumerable.Range(0, N * N).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        b = Enumerable.Range(0, N * N).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        c = new float[N * N];

        // Check before timing: for entries in [-1, 1] the float error of a length-n dot product
        // is at most ~n·2^-24·n, so 4n²·2^-24 is generous yet still catches any indexing bug.
        var expected = new float[N * N];
        Gemm.V0Naive(false, false, N, N, N, 1f, a, N, b, N, 0f, expected, N);
        Gemm.Run(Version, false, false, N, N, N, 1f, a, N, b, N, 0f, c, N);
        double tol = 4.0 * N * N * Math.Pow(2, -24), worst = 0;
        for (int i = 0; i < c.Length; i++) worst = Math.Max(worst, Math.Abs(c[i] - expected[i]));
        if (!(worst <= tol))
            throw new InvalidOperationException($"{Version} n={N}: max |C − C_V0| = {worst} > {tol}");
    }

    [Benchmark]
    public void Sgemm() => Gemm.Run(Version, false, false, N, N, N, 1f, a, N, b, N, 0f, c, N);
}

public class GemmBenchConfig : ManualConfig
{
    public GemmBenchConfig() => AddColumn(new GflopsColumn(
        c => c.Parameters["N"] is int n ? 2.0 * n * n * n : null,
        "2·n³ floating-point operations per second, ×1e9"));
}
