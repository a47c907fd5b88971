// Gemm.cs — row-major single-precision GEMM:  C = alpha · op(A) · op(B) + beta · C
//
// Math: the BLAS-3 SGEMM contract (Dongarra et al., 1990). op(A) is M×K (A is stored K×M when
// transA), op(B) is K×N (B is stored N×K when transB); lda/ldb/ldc are row strides in floats.
// beta == 0 overwrites C without reading it, so NaN or garbage already in C never leaks through.
//
// Versions, each kept and tested against V0. GFLOP/s measured on the 2-core Zen 5 dev box
// (docs/MACHINE.md: peak 225 one core, 445 two), best of 5 Stopwatch runs, n = 512 / 1024:
//   V0Naive    i-j-k loops, double accumulator; the reference         0.9 /   0.4
//   V1Reorder  i-k-j: rows of B stream contiguously into a row AXPY    15 /  24     (no blocking)
//   V2Packed   BLIS-style packed panels + 6×64 Vector512 FMA tile,    185 / 198     1 thread
//              deterministic split over threads (Parallel.For)         380 / 385     2 threads
//   V3Pooled   V2's kernel on the WorkerPool, 2-D grid of up to 4 parts per thread chosen to
//              pack least, 16-wide tile for N ≤ 32; same bits as V2
//   V4Blocked  V3 with KC = 384, C tile prefetched, vector packing of A,
//              narrow products transposed. Thread CPU time, 1 thread, load ~20 (n = 512 / 1024 / 2048):
//              169 / 167–174 / 174–180; 2 threads in a quiet window: 307 / 380 / 373
//              (PyTorch + OpenBLAS in the same run: 303 / 338 / 373)
//   V5Swept    V4's kernel in the BLIS loop order (C swept along rows, op(A) band per K block, 256-wide   (current)
//              op(B) block in L2), op(B) packed once and shared by the threads, small row-major
//              operands (≤ 1 MiB) read in place instead of packed; same bits as V4.
//              Thread CPU time, 1 thread, V4 interleaved, load 7 (n = 256 / 512 / 1024 / 2048, median):
//              V4 186 / 191 / 187 / 190, V5 201 / 191 / 190 / 199. Same, 2 threads, wall clock (load 7,
//              so both below their 1-thread figures): V4 130 / 170 / 71 / 119, V5 165 / 186 / 77 / 124.
//              Against PyTorch + OpenBLAS, both on one thread (compare.sh --cpu-time, load 12 → 8),
//              Denoise/PyTorch: 1.21 / 0.99 / 0.99 / 1.00 (n = 256: 0.208 vs 0.172 ms, ±15 % run to run).
// The 2-thread figures need an otherwise idle machine; rerun `bench -- gemm` rather than trust these.
// Per-version figures on K1/M2/M3 shapes, side by side with PyTorch: bench/results/cpu-2026-11-23-gemm.md
// and bench/results/cpu-2026-11-23-session4-gemm.md (V5).
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Gemm
// Bench: dotnet run -c Release --project bench -- gemm [--cpu-time] [--only k1|m2|m3]   (interleaved versions)
//        dotnet run -c Release --project bench -- --filter *GemmBench*                 (BenchmarkDotNet)
using System.Runtime.CompilerServices;

namespace Denoise.Kernels.Cpu;

/// <summary>The GEMM versions kept in the project, slowest to fastest.</summary>
public enum GemmVersion { V0Naive, V1Reorder, V2Packed, V3Pooled, V4Blocked, V5Swept }

public static partial class Gemm
{
    /// <summary>
    /// Upper bound on worker threads for one GEMM (1 = single-thread mode). The result bits do
    /// not depend on this value: each output element is computed by exactly one thread with the
    /// same summation order whatever the partition.
    /// </summary>
    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Below this many multiply-adds (M·N·K) a GEMM runs on the calling thread: V2's
    /// Parallel.For costs 10–20 µs here, about 2^21 FMAs at the single-core rate (V3/V4's pool
    /// hand-off is ~1 µs when the worker is spinning, but a sleeping worker takes a futex wake).</summary>
    public static long ParallelThreshold { get; set; } = 1L << 21;

    /// <summary>The version <see cref="Run(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>
    /// uses: the current best unless a benchmark sets another to time a whole training step with it.</summary>
    public static GemmVersion Current { get; set; } = GemmVersion.V5Swept;

    /// <summary>C = alpha · op(A) · op(B) + beta · C with the current best version.</summary>
    public static void Run(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
    {
        if (Current == GemmVersion.V5Swept) V5Swept(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        else Run(Current, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }

    /// <summary>Runs a named version; the tests and the benchmark walk the ladder through this.</summary>
    public static void Run(GemmVersion version, bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
    {
        switch (version)
        {
            case GemmVersion.V0Naive: V0Naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            case GemmVersion.V1Reorder: V1Reorder(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            case GemmVersion.V2Packed: V2Packed(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            case GemmVersion.V3Pooled: V3Pooled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            case GemmVersion.V4Blocked: V4Blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            case GemmVersion.V5Swept: V5Swept(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
            default: throw new ArgumentOutOfRangeException(nameof(version));
        }
    }

    /// <summary>
    /// <paramref name="batch"/> independent GEMMs; problem b reads A[b·strideA..], B[b·strideB..]
    /// and writes C[b·strideC..]. A stride of 0 broadcasts one operand (a shared weight).
    /// Many small problems are spread over threads by batch; big ones thread inside each GEMM.
    /// </summary>
    public static unsafe void RunBatched(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc,
        int batch, long strideA, long strideB, long strideC)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (batch == 0 || M == 0 || N == 0) return;
        CheckBatchedLengths(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc,
            batch, strideA, strideB, strideC);

        long work = (long)M * N * Math.Max(K, 1);
        int threads = Math.Min(Math.Min(MaxThreads, WorkerPool.Threads), batch);
        bool perBatchThreads = threads > 1 && work < ParallelThreshold && work * batch >= ParallelThreshold;
        if (!perBatchThreads)
        {
            for (int b = 0; b < batch; b++)
                Run(transA, transB, M, N, K, alpha, A[(int)(b * strideA)..], lda, B[(int)(b * strideB)..], ldb,
                    beta, C[(int)(b * strideC)..], ldc);
            return;
        }

        // Fixed contiguous batch ranges, one per part on the WorkerPool; each problem runs
        // single-threaded, so the bits match the sequential loop exactly.
        fixed (float* pA = A, pB = B, pC = C)
        {
            int parts = Math.Min(batch, 4 * threads);
            WorkerPool.Run(new BatchJob(transA, transB, M, N, K, alpha, pA, A.Length, lda, pB, B.Length, ldb, beta,
                pC, C.Length, ldc, batch, parts, strideA, strideB, strideC), parts);
        }
    }

    readonly unsafe struct BatchJob(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lenA, int lda, float* B, int lenB, int ldb, float beta, float* C, int lenC, int ldc,
        int batch, int parts, long strideA, long strideB, long strideC) : IParallelJob
    {
        public void Execute(int part)
        {
            var (b0, count) = WorkerPool.Range(batch, parts, part);
            for (int b = b0; b < b0 + count; b++)
            {
                long oa = b * strideA, ob = b * strideB, oc = b * strideC;
                RunSingle(Current, transA, transB, M, N, K, alpha, new ReadOnlySpan<float>(A + oa, (int)(lenA - oa)), lda,
                    new ReadOnlySpan<float>(B + ob, (int)(lenB - ob)), ldb, beta,
                    new Span<float>(C + oc, (int)(lenC - oc)), ldc);
            }
        }
    }

    /// <summary>One problem on the calling thread only (inside a job already spread over the pool).</summary>
    static void RunSingle(GemmVersion version, bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
    {
        switch (version)
        {
            case GemmVersion.V2Packed: V2Packed(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads: 1); break;
            case GemmVersion.V3Pooled: V3Pooled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads: 1); break;
            case GemmVersion.V4Blocked: V4Blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads: 1); break;
            case GemmVersion.V5Swept: V5Swept(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads: 1); break;
            default: Run(version, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); break;   // V0, V1: serial anyway
        }
    }

    // ---- shared helpers -------------------------------------------------------------------

    /// <summary>Span lengths must cover every element touched; V2 reads through raw pointers.</summary>
    static void CheckArgs(bool transA, bool transB, int M, int N, int K,
        int lenA, int lda, int lenB, int ldb, int lenC, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(M);
        ArgumentOutOfRangeException.ThrowIfNegative(N);
        ArgumentOutOfRangeException.ThrowIfNegative(K);
        int aRows = transA ? K : M, aCols = transA ? M : K;
        int bRows = transB ? N : K, bCols = transB ? K : N;
        CheckMatrix("A", aRows, aCols, lenA, lda);
        CheckMatrix("B", bRows, bCols, lenB, ldb);
        CheckMatrix("C", M, N, lenC, ldc);
    }

    static void CheckMatrix(string name, int rows, int cols, int len, int ld)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"ld{name.ToLowerInvariant()} = {ld} < {cols} columns");
        long need = (long)(rows - 1) * ld + cols;
        if (len < need) throw new ArgumentException($"{name} has {len} elements, needs {need}");
    }

    static void CheckBatchedLengths(bool transA, bool transB, int M, int N, int K,
        int lenA, int lda, int lenB, int ldb, int lenC, int ldc, int batch, long sA, long sB, long sC)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sA);
        ArgumentOutOfRangeException.ThrowIfNegative(sB);
        ArgumentOutOfRangeException.ThrowIfNegative(sC);
        long last = batch - 1;
        CheckArgs(transA, transB, M, N, K, (int)Math.Max(0, lenA - last * sA), lda,
            (int)Math.Max(0, lenB - last * sB), ldb, (int)Math.Max(0, lenC - last * sC), ldc);
    }

    /// <summary>C = beta · C, used when alpha · op(A) · op(B) contributes nothing (K == 0).</summary>
    static void ScaleC(int M, int N, float beta, Span<float> C, int ldc)
    {
        for (int i = 0; i < M; i++)
        {
            var row = C.Slice(i * ldc, N);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float OpA(bool transA, ReadOnlySpan<float> A, int lda, int i, int k)
        => transA ? A[k * lda + i] : A[i * lda + k];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float OpB(bool transB, ReadOnlySpan<float> B, int ldb, int k, int j)
        => transB ? B[j * ldb + k] : B[k * ldb + j];
}
