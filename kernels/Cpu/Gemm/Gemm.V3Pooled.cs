// Gemm.V3Pooled.cs — V2's packed panels and micro-kernels, split over the persistent WorkerPool in a
// 2-D grid of blocks chosen to keep packing low, with a narrow-N kernel choice.
//
// What V2 left on the table (profile of WORKLOADS M2 and K1, bench `gemm`, results in
// bench/results/cpu-2026-11-23-gemm.md):
//   1. Threads came from Parallel.For: 10–23 µs per call here (docs/MACHINE.md), a closure per call,
//      and ThreadPool threads that compete for the 2 cores with the WorkerPool worker still spinning
//      after the previous elementwise op — in M2's step the 512×256×256 GEMMs gained nothing from the
//      second thread. V3 runs its parts on the WorkerPool (no allocation, ~1 µs hand-off when warm).
//   2. Exactly one part per thread: on a shared machine a descheduled thread stalled the whole call.
//      Big problems are now cut into up to 4 parts per thread and claimed dynamically, so the thread
//      that is running takes over the parts of the one that is not.
//   3. A 1-D split along the longer side: V3 picks a grid (mp row blocks × np column blocks) that
//      minimises the floats packed in total. A part packs its own op(A) rows once per NC-wide slab of
//      its columns and its own op(B) columns once, so cutting N only at NC boundaries costs no extra
//      A packing (K1 n = 2048: 2×2 parts pack exactly what the serial algorithm packs).
//   4. N ≤ 32 (M2's Linear(256→2) and the backward GEMMs with K = 2 or 3 beside it): the 64-wide
//      AVX-512 tile wasted up to 63/64 of its FMAs; these use the 16-wide tile instead.
// Bits: every element of C is computed as in V2 — one FMA chain over k in order, KC blocks added
// with the same unfused expression, edge tiles merged identically — so V3 equals V2 bit for bit for
// any shape and any partition, and so for any thread count (tests/Kernels/GemmTests.cs checks it).
// See Gemm.cs for the contract and how to run the tests and the benchmark.
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    /// <summary>Below this many multiply-adds per part a GEMM is not cut further (~20 µs on one core).</summary>
    const long MinPartWork = 1L << 21;
    /// <summary>Parts per thread for big problems: spare parts for the thread that is running to claim.</summary>
    const int PartsPerThread = 4;
    /// <summary>Packing one float costs about as much as this many multiply-adds (memcpy- or
    /// transpose-speed copy against 32 FMAs per cycle); used only to rank grids.</summary>
    const int PackCostInFmas = 16;
    /// <summary>Up to this N the 16-wide tile wastes fewer FMAs than the 64-wide one saves in loads.</summary>
    const int NarrowN = 32;

    public static void V3Pooled(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
        => V3Pooled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, MaxThreads);

    internal static void V3Pooled(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc,
        int maxThreads)
        => Pooled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads, KC, fastPackA: false);

    /// <summary>V3's and V4's driver: the grid over the pool, each block the serial loop nest.</summary>
    static unsafe void Pooled(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc,
        int maxThreads, int kcBlock, bool fastPackA)
    {
        CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (M == 0 || N == 0) return;
        if (K == 0 || alpha == 0f) { ScaleC(M, N, beta, C, ldc); return; }

        int nr = Vector512.IsHardwareAccelerated && N > NarrowN ? NR512 : NR256;
        // The grid is planned for maxThreads (Gemm.MaxThreads) and run by whatever threads the pool has:
        // any grid gives the same bits, and tests vary it without growing the pool.
        int threads = WorkerPool.Threads == 1 ? 1 : maxThreads;
        var (mp, np) = (long)M * N * K < ParallelThreshold || threads <= 1 ? (1, 1) : PlanGrid(M, N, K, nr, threads);

        fixed (float* pA = A, pB = B, pC = C)
        {
            var job = new GemmJob(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, mp, np, kcBlock, fastPackA);
            if (mp * np == 1) Serial(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, kcBlock, fastPackA, prefetchC: fastPackA);
            else WorkerPool.Run(job, mp * np);
        }
    }

    /// <summary>
    /// The grid (row blocks × column blocks) for <paramref name="threads"/> threads: among grids of
    /// threads, 2·threads … PartsPerThread·threads parts (no part below MinPartWork), the one with
    /// the least estimated time per thread = (rounds of parts) × (largest part's FMAs, tile-rounded)
    /// + packed floats × PackCostInFmas / threads. Ties go to fewer parts.
    /// </summary>
    internal static (int mp, int np) PlanGrid(int M, int N, int K, int nr, int threads, bool sharedB = false)
    {
        long mTiles = (M + MR - 1) / MR, nTiles = (N + nr - 1) / nr;
        long work = (long)M * N * K;
        (int, int) best = (1, 1);
        double bestCost = double.MaxValue;
        for (int parts = threads; parts <= PartsPerThread * threads; parts += threads)
        {
            if (parts > threads && work / parts < MinPartWork) break;
            for (int mp = 1; mp <= parts; mp++)
            {
                if (parts % mp != 0) continue;
                int np = parts / mp;
                if (mp > mTiles || np > nTiles) continue;
                long rows = Math.Min(M, (mTiles + mp - 1) / mp * MR);       // largest block, whole tiles
                long cols = Math.Min(N, (nTiles + np - 1) / np * nr);
                long rounds = (parts + threads - 1) / threads;
                // Each block packs its rows of op(A) once per NC slab of its columns, its columns of op(B) once.
                double packed = sharedB ? (double)M * K * np + (double)N * K   // V5: op(B) packed once for all parts
                    : (double)M * K * np * ((cols + NC - 1) / NC) + (double)N * K * mp;
                double cost = rounds * (double)rows * cols * K + packed * PackCostInFmas / threads;
                if (cost < bestCost * 0.999) { bestCost = cost; best = (mp, np); }
            }
        }
        return best;
    }

    /// <summary>Block (part / np, part % np) of the grid: whole MR-row and NR-column tiles, by arithmetic.</summary>
    readonly unsafe struct GemmJob(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int nr, int mp, int np,
        int kcBlock, bool fastPackA) : IParallelJob
    {
        public void Execute(int part)
        {
            int mTiles = (M + MR - 1) / MR, nTiles = (N + nr - 1) / nr;
            var (t0, tc) = WorkerPool.Range(mTiles, mp, part / np);
            var (u0, uc) = WorkerPool.Range(nTiles, np, part % np);
            int i0 = t0 * MR, rows = Math.Min(M, (t0 + tc) * MR) - i0;
            int j0 = u0 * nr, cols = Math.Min(N, (u0 + uc) * nr) - j0;
            if (rows <= 0 || cols <= 0) return;
            float* a = A + (transA ? i0 : (nint)i0 * lda);
            float* b = B + (transB ? (nint)j0 * ldb : j0);
            Serial(transA, transB, rows, cols, K, alpha, a, lda, b, ldb, beta, C + (nint)i0 * ldc + j0, ldc, nr, kcBlock, fastPackA, prefetchC: fastPackA);
        }
    }
}
