// GemmTests.cs — every GPU GEMM version and transpose case against the CPU reference
// (Cpu.Gemm.V0Naive, double accumulator) on tile-edge shapes: 1, 15, 17, 33 straddle the 16-wide V1
// tile; 65 and 129 the 64/128 blocks of V2/V3; K = 9, 17, 33 leave partial BK tiles. Leading
// dimensions larger than the matrix (ld = cols + 3) check the stride arithmetic; beta ≠ 0 the epilogue.
// Tolerance: fp32 sums of ≤ 129 products of values in [−1, 1] in a different order: 1e-5 relative to √K.
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
    static readonly (int M, int N, int K)[] EdgeShapes = [(1, 1, 1), (15, 17, 33), (33, 15, 9), (17, 33, 17)];
    static readonly (int M, int N, int K)[] BlockShapes = [(65, 129, 17), (129, 65, 9)];

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
        var shapes = version is GpuGemmVersion.V2Register or GpuGemmVersion.V3Register8 ? EdgeShapes.Concat(BlockShapes) : EdgeShapes;
        int seed = 0;
        foreach (var (M, N, K) in shapes)
            foreach (bool tA in new[] { false, true })
                foreach (bool tB in new[] { false, true })
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
