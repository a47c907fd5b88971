// GemmTests.cs — every GPU GEMM version and transpose case against the CPU reference
// (Cpu.Gemm.V0Naive, double accumulator) on tile-edge shapes: 1, 15, 17, 33 straddle the 16-wide V1
// tile; 65 and 129 the 64/128 blocks of V2/V3; K = 9, 20 leave partial BK tiles. Leading
// dimensions larger than the matrix (ld = cols + 3) check the stride arithmetic; beta ≠ 0 the epilogue.
// Tolerance: fp32 sums of ≤ 130 products of values in [−1, 1] in a different order: 1e-5 relative to √K.
// Shapes stay small: the CPU accelerator runs each of a group's 256 threads as an OS thread.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Gemm
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using CpuGemm = Denoise.Kernels.Cpu.Gemm;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class GemmTests
{
    // On the CPU accelerator every group thread is an OS thread and a barrier phase of 256 threads costs
    // ~25–50 ms on 2 cores, and compiling one V3 instantiation there takes seconds: so all four transpose
    // cases run on a one-group shape, and the multi-group shapes (interior + edge groups together) run
    // NN and TT, which between them exercise both loaders of both operands. CUDA runs everything.
    static (int M, int N, int K)[] AllTransposeShapes(GpuGemmVersion v) => v switch
    {
        GpuGemmVersion.V0Naive or GpuGemmVersion.V1Tiled => [(1, 1, 1), (17, 17, 20)],   // 2×2 tiles of 16, K = 16 + 4
        _ => [(1, 1, 1), (33, 17, 20)],
    };

    static (int M, int N, int K)[] BlockShapes(GpuGemmVersion v) => v switch
    {
        GpuGemmVersion.V0Naive => [(15, 33, 9)],
        GpuGemmVersion.V1Tiled => [(33, 15, 9)],
        GpuGemmVersion.V2Register => [(65, 65, 20)],          // 2×2 blocks of 64: one interior, three edge
        _ => [(129, 129, 9)],                                 // 2×2 blocks of 128, K = 8 + 1
    };

    static readonly (int M, int N, int K)[] CudaShapes = [(15, 17, 33), (257, 129, 65), (300, 260, 130)];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var kind in GpuDevices.Kinds)
            foreach (var v in Enum.GetValues<GpuGemmVersion>())
                yield return new TestCaseData(kind, v).SetName($"Gemm_{v}_AllTransposes_MatchCpuReference({kind})");
    }

    [TestCaseSource(nameof(Cases))]
    public void Version_MatchesCpuReference(string kind, GpuGemmVersion version)
    {
        var gpu = GpuDevices.Get(kind);
        bool cuda = kind == GpuDevices.Cuda;
        int seed = 0;
        var all = new[] { (false, false), (false, true), (true, false), (true, true) };
        var cases = AllTransposeShapes(version).SelectMany(s => all.Select(t => (s, t)))
            .Concat(BlockShapes(version).SelectMany(s => (cuda ? all : [(false, false), (true, true)]).Select(t => (s, t))))
            .Concat(cuda ? CudaShapes.SelectMany(s => all.Select(t => (s, t))) : []);
        foreach (var ((M, N, K), (tA, tB)) in cases)
        {
            float beta = seed % 2 == 0 ? 0f : 0.5f;
            Check(gpu, version, tA, tB, M, N, K, alpha: 1.25f, beta, seed++);
        }
    }

    static void Check(GpuContext gpu, GpuGemmVersion version, bool tA, bool tB, int M, int N, int K, float alpha, float beta, int seed)
    {
        int aRows = tA ? K : M, aCols = tA ? M : K, bRows = tB ? N : K, bCols = tB ? K : N;
        int lda = aCols + 3, ldb = bCols + 3, ldc = N + 3;
        var A = GpuDevices.Rand(seed * 3 + 1, aRows * lda);
        var B = GpuDevices.Rand(seed * 3 + 2, bRows * ldb);
        var C = GpuDevices.Rand(seed * 3 + 3, M * ldc);
        var expected = (float[])C.Clone();
        CpuGemm.V0Naive(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, expected, ldc);

        using var dA = gpu.Accelerator.Allocate1D(A);
        using var dB = gpu.Accelerator.Allocate1D(B);
        using var dC = gpu.Accelerator.Allocate1D(C);
        Gemm.Run(gpu, version, tA, tB, M, N, K, alpha, dA.View, lda, dB.View, ldb, beta, dC.View, ldc);
        var got = dC.GetAsArray1D();
        float tol = 1e-5f * MathF.Sqrt(K) * 2f;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++)
            {
                int at = i * ldc + j;
                // Columns beyond N are padding that must stay untouched.
                Assert.That(got[at], Is.EqualTo(expected[at]).Within(j < N ? tol : 0f),
                    $"{version} transA={tA} transB={tB} M={M} N={N} K={K} beta={beta}: C[{i},{j}]");
            }
    }

    [Test]
    public void Run_TooSmallView_ThrowsNamingTheOperandAndShape()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        using var a = gpu.Accelerator.Allocate1D<float>(6);
        using var c = gpu.Accelerator.Allocate1D<float>(100);
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.Run(gpu, false, false, 3, 3, 3, 1f, a.View, 3, c.View, 3, 0f, c.View, 3))!;
        Assert.That(e.Message, Does.Contain("A (3×3").And.Contain("6"));
    }
}
