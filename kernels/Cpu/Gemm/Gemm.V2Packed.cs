// Gemm.V2Packed.cs — packed panels + register-blocked micro-kernel (the BLIS/GotoBLAS design:
// Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", TOMS 2008;
// Van Zee & van de Geijn, "BLIS", TOMS 2015).
//
// Loop nest, outermost first (names as in the BLIS paper):
//   1. jc over N by NC   — a KC×NC slab of op(B) is packed once and reused by every row block
//   2. pc over K by KC   — the first K block applies the caller's beta, later ones add (beta = 1)
//   3. ic over M by MC   — an MC×KC block of op(A) is packed; it stays in L2 (MC·KC·4 = 144 KiB)
//   4. jr over NC by NR  — one KC×NR micro-panel of B, reused for every A micro-panel
//   5. ir over MC by MR  — the micro-kernel: an MR×NR tile of C held in registers over all KC
// Packing lays both operands out in the exact order the micro-kernel reads them (unit stride,
// zero-padded to MR/NR), which is also how all four transpose cases become one kernel: only
// the pack routines know whether A or B is transposed. Nothing is transposed wholesale.
//
// Micro-kernel: 6×64 with Vector512 (6 rows × 4 zmm = 24 accumulators, the count that reached
// peak in docs/MACHINE.md, + 4 B vectors + 1 broadcast ≤ 32 zmm registers), or 6×16 with
// Vector256 (12 accumulators of the 16 ymm) where AVX-512 is not accelerated. Edge tiles run the
// same kernel into a scratch tile and merge with scalar code using the same (unfused) final
// expression, so an element's bits do not depend on whether it sat in an edge tile — that is
// what makes the threaded result bit-identical to the single-threaded one.
//
// Threads: the larger of M and N is cut into one contiguous range per thread, in whole MR (or NR)
// tiles, by arithmetic alone (no work stealing), and each range runs the serial algorithm.
// See Gemm.cs for the contract and how to run the tests and the benchmark.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    const int MR = 6;
    const int NR512 = 64, NR256 = 16;
    // KC·NR·4 = 64 KiB B micro-panel (L1/L2), MC·KC·4 = 144 KiB A block (L2, 1 MiB on Zen 5),
    // KC·NC·4 = 1 MiB B slab (L3). MC is a multiple of MR and NC of both NRs.
    const int KC = 256, MC = 144, NC = 1024;

    [ThreadStatic] static float[]? t_pack;

    public static void V2Packed(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
        => V2Packed(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, MaxThreads);

    internal static unsafe void V2Packed(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc,
        int maxThreads)
    {
        CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (M == 0 || N == 0) return;
        if (K == 0 || alpha == 0f) { ScaleC(M, N, beta, C, ldc); return; }

        int nr = Vector512.IsHardwareAccelerated ? NR512 : NR256;
        bool splitM = M >= N;
        int tile = splitM ? MR : nr, dim = splitM ? M : N;
        int tiles = (dim + tile - 1) / tile;
        int threads = (long)M * N * K < ParallelThreshold ? 1 : Math.Clamp(maxThreads, 1, tiles);

        fixed (float* pA = A, pB = B, pC = C)
        {
            if (threads == 1)
            {
                Serial(transA, transB, M, N, K, alpha, pA, lda, pB, ldb, beta, pC, ldc, nr, KC, fastPackA: false);
                return;
            }

            int step = (tiles + threads - 1) / threads * tile;
            int parts = (dim + step - 1) / step;
            nint a = (nint)pA, b = (nint)pB, c = (nint)pC;
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int lo = t * step, len = Math.Min(dim, lo + step) - lo;
                if (splitM)   // rows lo.. of op(A) and C
                    Serial(transA, transB, len, N, K, alpha, (float*)a + (transA ? lo : (nint)lo * lda), lda,
                        (float*)b, ldb, beta, (float*)c + (nint)lo * ldc, ldc, nr, KC, fastPackA: false);
                else          // columns lo.. of op(B) and C
                    Serial(transA, transB, M, len, K, alpha, (float*)a, lda,
                        (float*)b + (transB ? (nint)lo * ldb : lo), ldb, beta, (float*)c + lo, ldc, nr, KC, fastPackA: false);
            });
        }
    }

    /// <summary>The serial loop nest; <paramref name="kcBlock"/> ≤ KC is the K block and
    /// <paramref name="fastPackA"/> picks V4's vectorised A packing (same packed bytes).</summary>
    static unsafe void Serial(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int nr, int kcBlock, bool fastPackA, bool prefetchC = false)
    {
        float* pa = PackBuffer();
        float* pb = pa + MC * 512;   // MC·KC·4 bytes is a multiple of 64, so pb stays aligned
        for (int jc = 0; jc < N; jc += NC)
        {
            int nc = Math.Min(NC, N - jc);
            for (int pc = 0; pc < K; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, K - pc);
                float betaK = pc == 0 ? beta : 1f;
                PackB(transB, B, ldb, pc, kc, jc, nc, nr, pb);
                for (int ic = 0; ic < M; ic += MC)
                {
                    int mc = Math.Min(MC, M - ic);
                    if (fastPackA) PackAVector(transA, A, lda, ic, mc, pc, kc, pa);
                    else PackA(transA, A, lda, ic, mc, pc, kc, pa);
                    Macro(mc, nc, kc, pa, pb, C + (nint)ic * ldc + jc, ldc, alpha, betaK, nr, prefetchC);
                }
            }
        }
    }

    /// <summary>One per thread, pinned so raw pointers stay valid, 64-byte aligned, reused
    /// for the life of the thread (fresh pages cost ~15 µs each here, docs/MACHINE.md).</summary>
    static unsafe float* PackBuffer()
    {
        const int floats = MC * 512 + 512 * NC + 16;
        float[]? buf = t_pack;
        if (buf is null) t_pack = buf = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        return (float*)((p + 63) & ~(nint)63);
    }

    /// <summary>op(A)[i0.., p0..] (mc×kc) → MR-row micro-panels; panel element (k, r) at k·MR + r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void PackA(bool transA, float* A, int lda, int i0, int mc, int p0, int kc, float* dst)
    {
        for (int ir = 0; ir < mc; ir += MR, dst += MR * kc)
        {
            int mr = Math.Min(MR, mc - ir);
            float* d = dst;
            if (transA)
            {
                // op(A)[i, k] = A[k, i]: the MR values for one k are contiguous.
                float* s = A + (nint)p0 * lda + i0 + ir;
                for (int k = 0; k < kc; k++, s += lda, d += MR)
                {
                    int r = 0;
                    for (; r < mr; r++) d[r] = s[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
            else if (mr == MR)
            {
                float* s = A + (nint)(i0 + ir) * lda + p0;
                nint l = lda;
                for (int k = 0; k < kc; k++, s++, d += MR)
                {
                    d[0] = s[0]; d[1] = s[l]; d[2] = s[2 * l];
                    d[3] = s[3 * l]; d[4] = s[4 * l]; d[5] = s[5 * l];
                }
            }
            else
            {
                for (int r = 0; r < MR; r++)
                {
                    float* s = A + (nint)(i0 + ir + r) * lda + p0;
                    if (r < mr) for (int k = 0; k < kc; k++) d[k * MR + r] = s[k];
                    else for (int k = 0; k < kc; k++) d[k * MR + r] = 0f;
                }
            }
        }
    }

    /// <summary>op(B)[p0.., j0..] (kc×nc) → NR-column micro-panels; panel element (k, j) at k·NR + j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void PackB(bool transB, float* B, int ldb, int p0, int kc, int j0, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr, dst += nr * kc)
        {
            int w = Math.Min(nr, nc - jr);
            if (!transB)
            {
                // op(B) row k is a contiguous run of B: copy w floats per k, zero the padding.
                float* s = B + (nint)p0 * ldb + j0 + jr;
                float* d = dst;
                for (int k = 0; k < kc; k++, s += ldb, d += nr)
                {
                    if (w == nr) Buffer.MemoryCopy(s, d, nr * sizeof(float), nr * sizeof(float));
                    else
                    {
                        new ReadOnlySpan<float>(s, w).CopyTo(new Span<float>(d, w));
                        new Span<float>(d + w, nr - w).Clear();
                    }
                }
            }
            else
            {
                // op(B)[k, j] = B[j, k]. Full 64-wide panels: 16×16 blocks transposed in registers
                // (conv weight-grad packs its whole col matrix this way; the scalar scatter below
                // cost as much as the FMAs when M = Cout is 32). The rest: scalar, stride NR.
                int k16 = 0;
                if (w == NR512 && nr == NR512 && Avx512F.IsSupported)
                {
                    k16 = kc & ~15;
                    for (int jb = 0; jb < NR512; jb += 16)
                        for (int k0 = 0; k0 < k16; k0 += 16)
                            Transpose16.Run(B + (nint)(j0 + jr + jb) * ldb + p0 + k0, ldb, dst + (nint)k0 * NR512 + jb, NR512);
                }
                if (k16 == kc) continue;
                for (int j = 0; j < nr; j++)
                {
                    float* d = dst + j;
                    if (j < w)
                    {
                        float* s = B + (nint)(j0 + jr + j) * ldb + p0;
                        for (int k = k16; k < kc; k++) d[k * nr] = s[k];
                    }
                    else for (int k = k16; k < kc; k++) d[k * nr] = 0f;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Macro(int mc, int nc, int kc, float* pa, float* pb, float* C, int ldc,
        float alpha, float beta, int nr, bool prefetchC)
    {
        float* scratch = stackalloc float[MR * NR512];
        for (int jr = 0; jr < nc; jr += nr)
        {
            int w = Math.Min(nr, nc - jr);
            float* b = pb + jr * kc;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int h = Math.Min(MR, mc - ir);
                float* a = pa + ir * kc;
                float* c = C + (nint)ir * ldc + jr;
                if (h == MR && w == nr)
                {
                    if (prefetchC && nr == NR512) PrefetchTile(c, ldc);
                    Kernel(nr, kc, a, b, c, ldc, alpha, beta);
                    continue;
                }
                // Edge tile: scratch = A·B exactly (alpha 1, beta 0), then the same final
                // expression the vector store uses, element by element.
                Kernel(nr, kc, a, b, scratch, nr, 1f, 0f);
                StoreEdgeTile(scratch, nr, h, w, c, ldc, alpha, beta);
            }
        }
    }

    /// <summary>An edge tile's h×w corner of scratch (= A·B exactly, row stride nr) into C with the same final
    /// expression the vector store uses, element by element (V2–V5).</summary>
    static unsafe void StoreEdgeTile(float* scratch, int nr, int h, int w, float* c, nint ldc, float alpha, float beta)
    {
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                float ab = scratch[i * nr + j];
                ref float cij = ref c[(nint)i * ldc + j];
                cij = beta == 0f ? alpha * ab : alpha * ab + beta * cij;
            }
    }

    /// <summary>V4: asks for the 6×64 C tile before the k loop, so its read at the end does not stall
    /// on memory (at n = 2048, C does not fit in any cache and is re-read once per K block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void PrefetchTile(float* c, nint ldc)
    {
        if (!Sse.IsSupported) return;
        for (int i = 0; i < MR; i++, c += ldc)
        {
            Sse.Prefetch0(c); Sse.Prefetch0(c + 16); Sse.Prefetch0(c + 32); Sse.Prefetch0(c + 48);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Kernel(int nr, int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        if (nr == NR512) Kernel6x64(kc, a, b, c, ldc, alpha, beta);
        else Kernel6x16(kc, a, b, c, ldc, alpha, beta);
    }

    /// <summary>C[0..6, 0..64] = alpha · Σ_k a[k]ᵀ b[k] + beta · C, 24 zmm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Kernel6x64(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int k = 0; k < kc; k++, a += MR, b += NR512)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(a[5]);
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

    // alpha·ab + beta·c, deliberately unfused: the edge-tile merge computes the same in scalar.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void StoreRow512(float* c, Vector512<float> r0, Vector512<float> r1,
        Vector512<float> r2, Vector512<float> r3, float alpha, float beta)
    {
        var va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            (va * r0).Store(c); (va * r1).Store(c + 16); (va * r2).Store(c + 32); (va * r3).Store(c + 48);
        }
        else
        {
            var vb = Vector512.Create(beta);
            (va * r0 + vb * Vector512.Load(c)).Store(c);
            (va * r1 + vb * Vector512.Load(c + 16)).Store(c + 16);
            (va * r2 + vb * Vector512.Load(c + 32)).Store(c + 32);
            (va * r3 + vb * Vector512.Load(c + 48)).Store(c + 48);
        }
    }

    /// <summary>The AVX2 shape: 6×16, 12 ymm accumulators + 2 B vectors + 1 broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kc; k++, a += MR, b += NR256)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        StoreRow256(c, c00, c01, alpha, beta);
        StoreRow256(c + ldc, c10, c11, alpha, beta);
        StoreRow256(c + 2 * ldc, c20, c21, alpha, beta);
        StoreRow256(c + 3 * ldc, c30, c31, alpha, beta);
        StoreRow256(c + 4 * ldc, c40, c41, alpha, beta);
        StoreRow256(c + 5 * ldc, c50, c51, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void StoreRow256(float* c, Vector256<float> r0, Vector256<float> r1, float alpha, float beta)
    {
        var va = Vector256.Create(alpha);
        if (beta == 0f) { (va * r0).Store(c); (va * r1).Store(c + 8); }
        else
        {
            var vb = Vector256.Create(beta);
            (va * r0 + vb * Vector256.Load(c)).Store(c);
            (va * r1 + vb * Vector256.Load(c + 8)).Store(c + 8);
        }
    }
}
