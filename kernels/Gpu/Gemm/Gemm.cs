// Gemm.cs — GPU single-precision GEMM, row-major:  C = alpha · op(A) · op(B) + beta · C
//
// The same BLAS-3 contract as kernels/Cpu/Gemm/Gemm.cs (op(A) is M×K, stored K×M when transA;
// op(B) is K×N, stored N×K when transB; lda/ldb/ldc are row strides; beta == 0 never reads C).
// All four transpose cases are one generic kernel per version, instantiated with the layout structs
// below, so the transpose costs no branch in the inner loop.
//
// Versions (each kept, tested against V0 on the CPU accelerator and on CUDA, benchmarked by
// bench/GpuBench). GFLOP/s on an H100 at n = 1024 / 2048 / 4096: run bench/gpu/run-on-device.sh.
//   V0Naive     one thread per output, K-loop straight from global memory; the reference
//   V1Tiled     16×16 shared-memory tiles: each A/B element is read from DRAM once per tile
//   V2Register  64×64 block, BK = 16, each of 256 threads owns a 4×4 register tile: 16 FMAs per
//               2 shared loads instead of 1 per 2
//   V3Register8 128×128 block, BK = 8, 8×8 register tile per thread, double-buffered shared memory
//               (global loads for tile k+1 are in flight while tile k is multiplied; one barrier
//               per tile)                                                              (current)
//
// Edges: a group whose output block lies inside C and the full K-tiles take the Interior path,
// with no bounds checks; groups on the right/bottom border and the last partial K-tile take the
// Edge path, which zero-fills outside loads and masks stores. The choice is uniform per group,
// so barriers inside either path are safe.
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Gemm
// Bench: bench/gpu/publish.sh, then bench/gpu/run-on-device.sh on a GPU machine
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public enum GpuGemmVersion { V0Naive, V1Tiled, V2Register, V3Register8 }

/// <summary>Where element (row, col) of op(X) lives in X's storage with row stride ld.</summary>
public interface IOperandLayout
{
    static abstract int Offset(int row, int col, int ld);
    /// <summary>True when op(X) = Xᵀ: consecutive memory runs down op(X)'s rows instead of along its columns.</summary>
    static abstract bool Transposed { get; }
}

/// <summary>op(X) = X.</summary>
public readonly struct NoTrans : IOperandLayout
{
    public static int Offset(int row, int col, int ld) => row * ld + col;
    public static bool Transposed => false;
}

/// <summary>op(X) = Xᵀ.</summary>
public readonly struct Trans : IOperandLayout
{
    public static int Offset(int row, int col, int ld) => col * ld + row;
    public static bool Transposed => true;
}

/// <summary>Compile-time switch between the unchecked Interior path and the checked Edge path.</summary>
public interface IBounds { static abstract bool Checked { get; } }
public readonly struct Interior : IBounds { public static bool Checked => false; }
public readonly struct Edge : IBounds { public static bool Checked => true; }

/// <summary>Sizes and scalars of one GEMM call, passed to the kernels as one struct.</summary>
public readonly struct GemmShape(int m, int n, int k, int lda, int ldb, int ldc, float alpha, float beta)
{
    public readonly int M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc;
    public readonly float Alpha = alpha, Beta = beta;
}

public static partial class Gemm
{
    public const GpuGemmVersion Current = GpuGemmVersion.V3Register8;

    /// <summary>C = alpha · op(A) · op(B) + beta · C with the current version (asynchronous).</summary>
    public static void Run(GpuContext gpu, bool transA, bool transB, int M, int N, int K, float alpha,
        ArrayView<float> A, int lda, ArrayView<float> B, int ldb, float beta, ArrayView<float> C, int ldc)
        => Run(gpu, Current, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);

    public static void Run(GpuContext gpu, GpuGemmVersion version, bool transA, bool transB, int M, int N, int K, float alpha,
        ArrayView<float> A, int lda, ArrayView<float> B, int ldb, float beta, ArrayView<float> C, int ldc)
    {
        Validate(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (M == 0 || N == 0) return;
        var shape = new GemmShape(M, N, K, lda, ldb, ldc, alpha, beta);
        switch ((transA, transB))
        {
            case (false, false): Launch<NoTrans, NoTrans>(gpu, version, shape, A, B, C); break;
            case (false, true): Launch<NoTrans, Trans>(gpu, version, shape, A, B, C); break;
            case (true, false): Launch<Trans, NoTrans>(gpu, version, shape, A, B, C); break;
            default: Launch<Trans, Trans>(gpu, version, shape, A, B, C); break;
        }
    }

    static void Launch<TA, TB>(GpuContext gpu, GpuGemmVersion version, GemmShape s, ArrayView<float> A, ArrayView<float> B, ArrayView<float> C)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        string key = $"Gemm.{version}<{typeof(TA).Name},{typeof(TB).Name}>";
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape> kernel;
        KernelConfig config;
        switch (version)
        {
            case GpuGemmVersion.V0Naive:
                kernel = gpu.Kernels.Get(key, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(V0NaiveKernel<TA, TB>));
                int t = gpu.Kind == GpuKind.CpuAccelerator ? 4 : 16;
                config = new KernelConfig(new Index2D(Blocks(s.N, t), Blocks(s.M, t)), new Index2D(t, t));
                break;
            case GpuGemmVersion.V1Tiled:
                kernel = gpu.Kernels.Get(key, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(V1TiledKernel<TA, TB>));
                config = new KernelConfig(new Index2D(Blocks(s.N, V1Tile), Blocks(s.M, V1Tile)), new Index2D(V1Tile, V1Tile));
                break;
            case GpuGemmVersion.V2Register:
                kernel = gpu.Kernels.Get(key, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(V2RegisterKernel<TA, TB>));
                config = new KernelConfig(new Index2D(Blocks(s.N, V2BN), Blocks(s.M, V2BM)), new Index2D(16, 16));
                break;
            case GpuGemmVersion.V3Register8:
                kernel = gpu.Kernels.Get(key, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(V3Register8Kernel<TA, TB>));
                config = new KernelConfig(new Index2D(Blocks(s.N, V3BN), Blocks(s.M, V3BM)), new Index2D(16, 16));
                break;
            default: throw new ArgumentOutOfRangeException(nameof(version), version, "unknown GEMM version");
        }
        kernel(config, A, B, C, s);
    }

    static int Blocks(int n, int tile) => (n + tile - 1) / tile;

    static void Validate(bool transA, bool transB, int M, int N, int K, long aLen, int lda, long bLen, int ldb, long cLen, int ldc)
    {
        if (M < 0 || N < 0 || K < 0) throw new ArgumentException($"Gpu.Gemm: negative size M={M}, N={N}, K={K}.");
        int aRows = transA ? K : M, aCols = transA ? M : K, bRows = transB ? N : K, bCols = transB ? K : N;
        Need("A", aRows, aCols, lda, aLen); Need("B", bRows, bCols, ldb, bLen); Need("C", M, N, ldc, cLen);

        void Need(string name, int rows, int cols, int ld, long len)
        {
            if (rows == 0 || cols == 0) return;
            if (ld < cols) throw new ArgumentException($"Gpu.Gemm: ld{name.ToLowerInvariant()}={ld} < {cols} columns of {name} ({rows}×{cols}, transA={transA}, transB={transB}).");
            long need = (long)(rows - 1) * ld + cols;
            if (len < need) throw new ArgumentException($"Gpu.Gemm: {name} ({rows}×{cols}, ld {ld}) needs {need} floats, the view has {len}.");
            if (need > int.MaxValue) throw new ArgumentException($"Gpu.Gemm: {name} spans {need} floats, beyond this kernel's 32-bit indices.");
        }
    }

    /// <summary>The shared epilogue: C = alpha·acc + beta·C (beta == 0 never reads C).</summary>
    static void Store(ArrayView<float> C, int index, float acc, GemmShape s)
        => C[index] = s.Beta == 0f ? s.Alpha * acc : s.Alpha * acc + s.Beta * C[index];

    /// <summary>op(X)[row, col], or 0 outside rows×cols when TCheck is the Edge path.</summary>
    static float Load<TL, TCheck>(ArrayView<float> X, int ld, int row, int col, int rows, int cols)
        where TL : struct, IOperandLayout where TCheck : struct, IBounds
        => TCheck.Checked && (row >= rows || col >= cols) ? 0f : X[TL.Offset(row, col, ld)];
}
