// Gemm.V5Swept.cs — V4's micro-kernel and K block in the BLIS loop order, op(B) packed once and
// shared by the threads.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    internal static int MB5 = 2048;   // rows of op(A) packed per K block
    internal static int NB5 = 256;    // columns of op(B) per L2 block (multiple of NR512)
    internal static int KC5 = KC4;
    internal static int Pref5 = 1;    // 0 none, 1 next tile, 2 this tile

    /// <summary>Largest op(B), in floats (padded to whole micro-panels), that V5 packs once for all
    /// threads; the buffer is kept for the process. K1 n = 2048 needs 4M (16 MiB). Larger ones are
    /// packed per part, as V4 does (same bits).</summary>
    public static long SharedPackLimit { get; set; } = 4L << 20;

    [ThreadStatic] static float[]? t_pack5;
    static float[]? s_packB;
    static int s_packBBusy;

    public static void V5Swept(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
        => V5Swept(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, MaxThreads);

    internal static unsafe void V5Swept(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc, int maxThreads)
    {
        CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (N <= SwapN && M >= 4 * N && K > 0 && alpha != 0f)
        {
            Swapped(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads);
            return;
        }
        if (M == 0 || N == 0) return;
        if (K == 0 || alpha == 0f) { ScaleC(M, N, beta, C, ldc); return; }

        int nr = Vector512.IsHardwareAccelerated && N > NarrowN ? NR512 : NR256;
        int threads = WorkerPool.Threads == 1 ? 1 : maxThreads;
        var (mp, np) = (long)M * N * K < ParallelThreshold || threads <= 1 ? (1, 1) : PlanGrid(M, N, K, nr, threads, sharedB: true);
        fixed (float* pA = A, pB = B, pC = C)
        {
            if (mp * np == 1)
            {
                Serial5(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, KC5, null, 0, 0);
                return;
            }
            int nTiles = (N + nr - 1) / nr;
            long packedB = (long)K * nTiles * nr;
            // One shared op(B) at a time, up to SharedPackLimit floats: otherwise (a second caller, a
            // huge op(B)) each part packs its own columns, as V4 does. Same bits either way.
            if (packedB > SharedPackLimit || Interlocked.CompareExchange(ref s_packBBusy, 1, 0) != 0)
            {
                WorkerPool.Run(new SweptJob(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, mp, np, null), mp * np);
                return;
            }
            try
            {
                if (s_packB is null || s_packB.Length < packedB + 16)
                    s_packB = GC.AllocateUninitializedArray<float>((int)packedB + 16, pinned: true);
                nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_packB));
                float* shared = (float*)((p + 63) & ~(nint)63);
                int packParts = Math.Min(nTiles, 4 * threads);
                WorkerPool.Run(new PackBJob(transB, pB, ldb, K, N, nr, KC5, shared, packParts), packParts);
                WorkerPool.Run(new SweptJob(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, mp, np, shared), mp * np);
            }
            finally { Volatile.Write(ref s_packBBusy, 0); }
        }
    }

    /// <summary>Packs columns of op(B) — every K block — into the shared buffer: K block pc of the
    /// nTiles·nr padded columns starts at pc·nTiles·nr, micro-panel u of it at u·nr·kc.</summary>
    readonly unsafe struct PackBJob(bool transB, float* B, int ldb, int K, int N, int nr, int kcBlock, float* dst, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            int nTiles = (N + nr - 1) / nr;
            var (u0, uc) = WorkerPool.Range(nTiles, parts, part);
            int j0 = u0 * nr, cols = Math.Min(N, (u0 + uc) * nr) - j0;
            if (cols <= 0) return;
            for (int pc = 0; pc < K; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, K - pc);
                PackB(transB, B, ldb, pc, kc, j0, cols, nr, dst + (nint)pc * nTiles * nr + (nint)j0 * kc);
            }
        }
    }

    readonly unsafe struct SweptJob(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int nr, int mp, int np, float* sharedB) : IParallelJob
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
            Serial5(transA, transB, rows, cols, K, alpha, a, lda, b, ldb, beta, C + (nint)i0 * ldc + j0, ldc, nr, KC5,
                sharedB, j0, nTiles * nr);
        }
    }

    /// <summary>The loop nest on one thread. With <paramref name="sharedB"/> op(B) is already packed
    /// (by <see cref="PackBJob"/>; this block's columns start at column j0 of a ldPacked-wide packing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Serial5(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int nr, int kcBlock,
        float* sharedB, int j0, int ldPacked)
    {
        int mBlocks = (M + MB5 - 1) / MB5;
        int mb = ((M + mBlocks - 1) / mBlocks + MR - 1) / MR * MR, nb = Math.Min(NB5, (N + nr - 1) / nr * nr);
        int kb = Math.Min(kcBlock, K);
        int aFloats = (mb * kb + 15) & ~15;   // keeps pb 64-byte aligned
        float* pa = PackBuffer5(aFloats + (sharedB == null ? nb * kb : 0));
        float* pb = pa + aFloats;
        for (int ic = 0; ic < M; ic += mb)
        {
            int mc = Math.Min(mb, M - ic);
            for (int pc = 0; pc < K; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, K - pc);
                float betaK = pc == 0 ? beta : 1f;
                PackAVector(transA, A, lda, ic, mc, pc, kc, pa);
                for (int jc = 0; jc < N; jc += nb)
                {
                    int nc = Math.Min(nb, N - jc);
                    float* b;
                    if (sharedB != null) b = sharedB + (nint)pc * ldPacked + (nint)(j0 + jc) * kc;
                    else { PackB(transB, B, ldb, pc, kc, jc, nc, nr, pb); b = pb; }
                    Macro5(mc, nc, kc, pa, b, C + (nint)ic * ldc + jc, ldc, alpha, betaK, nr);
                }
            }
        }
    }

    static unsafe float* PackBuffer5(int floats)
    {
        float[]? buf = t_pack5;
        if (buf is null || buf.Length < floats + 16)
            t_pack5 = buf = GC.AllocateUninitializedArray<float>(Math.Max(floats + 16, (buf?.Length ?? 0) * 3 / 2), pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        return (float*)((p + 63) & ~(nint)63);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Macro5(int mc, int nc, int kc, float* pa, float* pb, float* C, int ldc,
        float alpha, float beta, int nr)
    {
        float* scratch = stackalloc float[MR * NR512];
        for (int ir = 0; ir < mc; ir += MR)
        {
            int h = Math.Min(MR, mc - ir);
            float* a = pa + ir * kc;
            for (int jr = 0; jr < nc; jr += nr)
            {
                int w = Math.Min(nr, nc - jr);
                float* b = pb + jr * kc;
                float* c = C + (nint)ir * ldc + jr;
                if (h == MR && w == nr)
                {
                    if (nr == NR512 && Pref5 != 0)
                    {
                        if (Pref5 == 2) PrefetchTile(c, ldc);
                        else if (jr + 2 * nr <= nc) PrefetchTile(c + nr, ldc);
                        else if (ir + 2 * MR <= mc) PrefetchTile(C + (nint)(ir + MR) * ldc, ldc);
                    }
                    Kernel(nr, kc, a, b, c, ldc, alpha, beta);
                    continue;
                }
                Kernel(nr, kc, a, b, scratch, nr, 1f, 0f);
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                    {
                        float ab = scratch[i * nr + j];
                        ref float cij = ref c[(nint)i * ldc + j];
                        cij = beta == 0f ? alpha * ab : alpha * ab + beta * cij;
                    }
            }
        }
    }
}
