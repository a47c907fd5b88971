// Gemm.V5Swept.cs — V4's micro-kernel and K block in the BLIS loop order (Van Zee & van de Geijn 2015,
// the loops BLIS runs on Skylake-X, with our A and B in the roles of its B and A), and op(B) packed
// once for all threads instead of once per thread.
//
// Loop nest of one part, outermost first:
//   ic over M by MB5 = 2048   — one band of op(A) rows (for K1: all of them; 288 when N ≤ NB5)
//   pc over K by KC4 = 384    — the band's op(A) is packed for this K block (MB5·KC·4 = 3 MiB, L3)
//   jc over N by NB5 = 256    — one KC × 256 block of the packed op(B) (384 KiB) stays in L2 …
//   ir over the band by MR    — … while every 6-row micro-panel of op(A) passes over it,
//   jr over the block by NR   — and C is swept along a row of tiles: 6 rows, 4 tiles, then the next 6 rows.
// What it fixes in V4 (one thread, thread CPU time; profile of the packing and the macro-kernel, load 8–10):
//   1. C. V4 walked C down a column of tiles (jr outer, ir inner) once per K block: every 6×64 tile
//      touched 6 new rows, at n = 2048 6 new 4 KiB pages, and C (16 MiB) came back from DRAM each
//      K block. Its tile prefetch did not hide that: V4's macro-kernel ran at 166 GFLOP/s with C in
//      place and at 195 with C redirected to one cached tile. Sweeping along rows keeps C's pages
//      and lines consecutive; the next tile is prefetched one whole kernel call ahead. V5's
//      macro-kernel: 192 (n = 1024), 179 (n = 2048; 185 with C redirected).
//   2. op(A) packed once per K block, not once per NC = 1024 slab of columns (twice at n = 2048).
//   3. Two threads: V4's parts each packed their own op(B) columns, so a 2 × 1 grid packed all of
//      op(B) twice (one whole extra pack per thread: ~0.28 ms of a ~6 ms n = 1024 product). V5 first
//      packs op(B) — all K blocks — into one shared buffer, its column ranges spread over the pool
//      (PackBJob), then runs the grid (SweptJob), whose parts pack only their own rows of op(A).
//      The grid therefore prefers cuts along M (PlanGrid, sharedB). Two pool hand-offs instead of one
//      (~1 µs each while the worker spins). One thread uses the same shared buffer.
//   4. The pack and macro loops were tier-0 (then OSR) JIT code for the first ~30 calls of a process —
//      every call of the 22-call K1 workload. They are now AggressiveOptimization (V2–V4's too):
//      n = 256, one thread: 0.30 → 0.22 ms; n = 512: 1.97 → 1.55 ms (bench `workloads --only K1 --cpu-time`).
//   5. Small row-major op(A) (≤ 1 MiB, so it stays in L2) is not packed: the kernel broadcasts its 6
//      values per k from 6 rows in place (Kernel6x64Strided); only a last partial panel is packed. Packing
//      is a large share when N is small (K1 n = 256: 1/N of the FMAs' work per float, at copy speed).
//      One thread, thread CPU time, interleaved, medians of 15 (load 9.6): n = 256 170 → 184 GFLOP/s,
//      n = 512 173 → 177; at n = 1024 in-place rows measured 0–3 % slower than packed, so larger
//      op(A) is still packed. Likewise a small row-major op(B) (≤ 1 MiB): its 64-column micro-panels
//      are read in place, row k at b + k·ldb (Kernel6x64Strided), and nothing is shared or packed
//      but a last partial panel: n = 256 180 → 195 GFLOP/s, n = 512 178–187 → 190 (same runs' style,
//      load 8.5, two interleaved orders).
// Tried and left out (no gain beyond the ±3 % noise of a machine at load 8–25): for K1, MB5 of 144–576 (A band
// in L2, C band re-read from L3), NB5 of 128–384, KC of 448/512, the C tile prefetched for this call
// instead of the next, op(B) packed row by row, op(A)'s next panel prefetched while packing, and 12×32
// and 8×48 micro-kernels (same 193–211 GFLOP/s as 6×64 with their panels hot).
// Bits: each element is V4's — one FMA chain over k per KC4 block, the same unfused alpha·ab + beta·C,
// the same edge-tile merge — so V5 equals V4 bit for bit on any shape and any grid (tests/Kernels/GemmTests.cs).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    // Rows of op(A) packed per K block (MB5·KC4·4 = 3 MiB: L3) and columns of op(B) per block that
    // stays in L2 while every row of the band passes over it (NB5·KC4·4 = 384 KiB; a multiple of NR512).
    // When all of N is one block, the band is used by that block only: MB5Narrow rows (432 KiB) keep
    // it in L2 from packing to use (M3's 4096×128×512, one thread, load 56: 150 GFLOP/s with 2048
    // rows, 154 with 288, 158 with 144; 512×128×4096 (TN): 140 / 140 / 135; V4: 159 / 141).
    const int MB5 = 2048, NB5 = 256, MB5Narrow = 288;
    /// <summary>Up to this many floats of op(A) (1 MiB: it stays in L2) full 6-row panels are read in
    /// place instead of packed.</summary>
    const long DirectA = 1 << 18;

    /// <summary>op(B) = B row-major, at most DirectA floats: full 64-column micro-panels are read in
    /// place, row k of the panel at b + k·ldb (only a last partial panel is packed).</summary>
    static bool DirectB(bool transB, int nr, int N, int K) => !transB && nr == NR512 && (long)K * N <= DirectA;

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
            int nTiles = (N + nr - 1) / nr;
            long packedB = (long)K * nTiles * nr;
            // One shared op(B) at a time, up to SharedPackLimit floats: otherwise (a second caller, a
            // huge op(B)) each part packs its own columns, as V4 does. Same bits either way.
            // A small row-major op(B) is not packed at all (Serial5 reads it in place).
            if (DirectB(transB, nr, N, K) || packedB > SharedPackLimit || Interlocked.CompareExchange(ref s_packBBusy, 1, 0) != 0)
            {
                if (mp * np == 1) Serial5(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, KC4, null, 0, 0);
                else WorkerPool.Run(new SweptJob(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, mp, np, null), mp * np);
                return;
            }
            try
            {
                if (s_packB is null || s_packB.Length < packedB + 16)
                    s_packB = GC.AllocateUninitializedArray<float>((int)packedB + 16, pinned: true);
                nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_packB));
                float* shared = (float*)((p + 63) & ~(nint)63);
                int packParts = mp * np == 1 ? 1 : Math.Min(nTiles, 4 * threads);
                var pack = new PackBJob(transB, pB, ldb, K, N, nr, KC4, shared, packParts);
                if (packParts == 1) pack.Execute(0);
                else WorkerPool.Run(pack, packParts);
                var job = new SweptJob(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, mp, np, shared);
                if (mp * np == 1) job.Execute(0);
                else WorkerPool.Run(job, mp * np);
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
            Serial5(transA, transB, rows, cols, K, alpha, a, lda, b, ldb, beta, C + (nint)i0 * ldc + j0, ldc, nr, KC4,
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
        int mbMax = N <= NB5 ? MB5Narrow : MB5;
        int mBlocks = (M + mbMax - 1) / mbMax;
        int mb = ((M + mBlocks - 1) / mBlocks + MR - 1) / MR * MR, nb = Math.Min(NB5, (N + nr - 1) / nr * nr);
        int kb = Math.Min(kcBlock, K);
        bool directB = sharedB == null && DirectB(transB, nr, N, K);
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
                float* aRows = null;
                if (!transA && nr == NR512 && (long)M * K <= DirectA)
                {
                    // Row-major op(A): full 6-row panels are read in place; only a last partial one is packed.
                    aRows = A + (nint)ic * lda + pc;
                    int full = mc / MR * MR;
                    if (full < mc) PackA(false, A, lda, ic + full, mc - full, pc, kc, pa + full * kc);
                }
                else PackAVector(transA, A, lda, ic, mc, pc, kc, pa);
                for (int jc = 0; jc < N; jc += nb)
                {
                    int nc = Math.Min(nb, N - jc);
                    float* b, bRows = null;
                    if (sharedB != null) b = sharedB + (nint)pc * ldPacked + (nint)(j0 + jc) * kc;
                    else if (directB)
                    {
                        bRows = B + (nint)pc * ldb + jc;
                        int full = nc / nr * nr;
                        if (full < nc) PackB(false, B, ldb, pc, kc, jc + full, nc - full, nr, pb + full * kc);
                        b = pb;
                    }
                    else { PackB(transB, B, ldb, pc, kc, jc, nc, nr, pb); b = pb; }
                    Macro5(mc, nc, kc, pa, aRows, lda, b, bRows, ldb, C + (nint)ic * ldc + jc, ldc, alpha, betaK, nr);
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
    static unsafe void Macro5(int mc, int nc, int kc, float* pa, float* aRows, nint lda, float* pb, float* bRows, nint ldb,
        float* C, int ldc, float alpha, float beta, int nr)
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
                    // The next tile's C, one whole kernel call ahead: along the row band, then the next band.
                    if (nr == NR512)
                    {
                        if (jr + 2 * nr <= nc) PrefetchTile(c + nr, ldc);
                        else if (ir + 2 * MR <= mc) PrefetchTile(C + (nint)(ir + MR) * ldc, ldc);
                    }
                    if (aRows == null && bRows == null) Kernel(nr, kc, a, b, c, ldc, alpha, beta);
                    else if (aRows == null) Kernel6x64Strided(kc, a, 1, MR, bRows + jr, ldb, c, ldc, alpha, beta);
                    else if (bRows == null) Kernel6x64Strided(kc, aRows + ir * lda, lda, 1, b, NR512, c, ldc, alpha, beta);
                    else Kernel6x64Strided(kc, aRows + ir * lda, lda, 1, bRows + jr, ldb, c, ldc, alpha, beta);
                    continue;
                }
                // Edge tile: a partial panel is always packed; the other operand may be in place.
                bool inA = aRows != null && h == MR, inB = bRows != null && w == nr;
                if (!inA && !inB) Kernel(nr, kc, a, b, scratch, nr, 1f, 0f);
                else Kernel6x64Strided(kc, inA ? aRows + ir * lda : a, inA ? lda : 1, inA ? 1 : MR,
                    inB ? bRows + jr : b, inB ? ldb : NR512, scratch, nr, 1f, 0f);
                StoreEdgeTile(scratch, nr, h, w, c, ldc, alpha, beta);
            }
        }
    }

    /// <summary>Kernel6x64 with either operand in place: op(A)'s value (r, k) at a[r·aRow + k·aK]
    /// (packed: aRow 1, aK 6; row-major A: aRow lda, aK 1) and B's row k at b + k·bK (packed: 64;
    /// row-major B: ldb). The same FMAs in the same order as Kernel6x64, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Kernel6x64Strided(int kc, float* a, nint aRow, nint aK, float* b, nint bK, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        float* a0 = a, a1 = a + aRow, a2 = a + 2 * aRow, a3 = a + 3 * aRow, a4 = a + 4 * aRow, a5 = a + 5 * aRow;
        nint end = kc * aK;
        for (nint k = 0; k < end; k += aK, b += bK)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            var x = Vector512.Create(a0[k]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[k]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[k]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[k]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(a4[k]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(a5[k]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(x, b2, c52); c53 = Vector512.FusedMultiplyAdd(x, b3, c53);
        }
        StoreRow512(c, c00, c01, c02, c03, alpha, beta);
        StoreRow512(c + ldc, c10, c11, c12, c13, alpha, beta);
        StoreRow512(c + 2 * ldc, c20, c21, c22, c23, alpha, beta);
        StoreRow512(c + 3 * ldc, c30, c31, c32, c33, alpha, beta);
        StoreRow512(c + 4 * ldc, c40, c41, c42, c43, alpha, beta);
        StoreRow512(c + 5 * ldc, c50, c51, c52, c53, alpha, beta);
    }
}
