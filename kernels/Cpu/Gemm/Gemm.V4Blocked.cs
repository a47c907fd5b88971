// Gemm.V4Blocked.cs — V3 with a K block of 384 instead of 256, the C tile prefetched before each
// micro-kernel call, vectorised packing of op(A), and very narrow products computed transposed.
//
// Why a longer K block and the prefetch: C is read and written once per K block (the later blocks add
// to it with beta = 1). At n = 2048, C (16 MiB) fits in no cache, so each micro-kernel call ended
// with 24 loads that missed to memory, and the core waited on them. Asking for the tile before the
// k loop hides that latency behind KC × 24 FMAs; a longer block makes those trips rarer (the BLIS
// Skylake-X configuration uses the same KC = 384). The B micro-panel (KC × 64 floats, 96 KiB) then
// lives in L2, not L1 — measured, it does not matter here: one thread, thread CPU time, interleaved
// with V3 as the control (bench `gemm --cpu-time --quick --only k1,m3`, load 15–20; V4 ÷ V3 speed):
//   KC = 128          n = 1024: 0.93   M3 4096×128×512: 1.05
//   KC = 128 + pref.  n = 1024: 0.99                    1.17
//   KC = 256 + pref.  n = 1024: 0.99   n = 512: 1.05    1.12
//   KC = 384 + pref.  n = 1024: 1.05   n = 512: 1.04    1.12   (chosen)
//   KC = 512 + pref.  n = 1024: 1.05   n = 512: 1.06    1.24   (n = 256: fewer, longer blocks lose)
// Single runs on a loaded machine differ by ±5 %; the sweep is in bench/results/cpu-2026-11-23-gemm.md.
// Why vector packing: op(A) is packed once per NC slab, so its cost per FMA is 1/N; at the N = 128
// and 256 of M2 and M3 the scalar gather (6 strided loads + 6 stores per k) was a visible share.
//   op(A) = A (row-major M×K): 8 k of 6 rows are loaded as 6 ymm, transposed 8×8 in registers (two
//       rows zero), and each k's 6 values stored as 8 floats — every store's 2 extra floats land in
//       the next k's slot, which is written after, so the block is never left half-done.
//   op(A) = Aᵀ: the 6 values of one k are contiguous: one 8-float load and store per k, same overlap.
// Bits: a different K block changes where the unfused alpha·ab + beta·C splits each dot product,
// so V4 differs from V2/V3 in the last bits (for K > 256); like them it depends on the shape only, not on the
// thread count or the grid (tests/Kernels/GemmTests.cs).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    const int KC4 = 384;   // ≤ the 512 the pack buffer is sized for

    public static void V4Blocked(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
        => V4Blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, MaxThreads);

    internal static void V4Blocked(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc, int maxThreads)
    {
        if (N <= SwapN && M >= 4 * N && K > 0 && alpha != 0f)
        {
            CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
            Swapped(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads);
            return;
        }
        Pooled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, maxThreads, KC4, fastPackA: true);
    }

    /// <summary>Up to this N (and M ≥ 4N) V4 computes Cᵀ instead; see <see cref="Swapped"/>.</summary>
    const int SwapN = 16;

    /// <summary>
    /// A very narrow C (M2's Linear(256→2) forward, the weight-grad of its Linear(3→256)) fills 2 or 3
    /// of the 16 columns of even the narrow tile; its transpose fills 2 or 3 of the kernel's 6 rows,
    /// 2–3× less waste. So T = op(B)ᵀ·op(A)ᵀ (N × M, alpha 1, beta 0) is computed into a pooled
    /// buffer and merged: C[i, j] = alpha·T[j, i] (+ beta·C[i, j]) — the expression the edge tiles use.
    /// Each T element is the same FMA chain over k as the unswapped kernel's (a·b = b·a exactly).
    /// </summary>
    static void Swapped(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc, int maxThreads)
    {
        float[] t = System.Buffers.ArrayPool<float>.Shared.Rent(N * M);
        try
        {
            // op(B)ᵀ is B read with the opposite transpose flag, op(A)ᵀ likewise.
            Pooled(!transB, !transA, N, M, K, 1f, B, ldb, A, lda, 0f, t, M, maxThreads, KC4, fastPackA: true);
            for (int i = 0; i < M; i++)
            {
                var row = C.Slice(i * ldc, N);
                for (int j = 0; j < N; j++)
                    row[j] = beta == 0f ? alpha * t[j * M + i] : alpha * t[j * M + i] + beta * row[j];
            }
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(t); }
    }

    /// <summary>PackA's layout (panel element (k, r) at k·MR + r), written with 8-float vector stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void PackAVector(bool transA, float* A, int lda, int i0, int mc, int p0, int kc, float* dst)
    {
        if (!Avx.IsSupported) { PackA(transA, A, lda, i0, mc, p0, kc, dst); return; }
        for (int ir = 0; ir < mc; ir += MR, dst += MR * kc)
        {
            int mr = Math.Min(MR, mc - ir);
            // The overlapping 8-float stores need a later k (or a later panel of this block) to land on.
            if (mr < MR || kc < 2)
            {
                PackA(transA, A, lda, i0 + ir, mr, p0, kc, dst);
                continue;
            }
            float* d = dst;
            int k = 0;
            if (transA)
            {
                // Reading 8 floats from column i0 + ir needs 2 more columns inside this block.
                if (ir + 8 <= mc)
                {
                    float* s = A + (nint)p0 * lda + i0 + ir;
                    for (; k < kc - 1; k++, s += lda, d += MR) Vector256.Store(Vector256.Load(s), d);
                }
            }
            else
            {
                float* s = A + (nint)(i0 + ir) * lda + p0;
                nint l = lda;
                for (; k + 8 < kc; k += 8, s += 8, d += 8 * MR)
                    Transpose6x8(s, l, d);
            }
            // The last k (or last < 9 for the row-major case): scalar, exactly as PackA.
            for (; k < kc; k++, d += MR)
                for (int r = 0; r < MR; r++)
                    d[r] = transA ? A[(nint)(p0 + k) * lda + i0 + ir + r] : A[(nint)(i0 + ir + r) * lda + p0 + k];
        }
    }

    /// <summary>d[j·6 + r] = s[r·l + j] for r &lt; 6, j &lt; 8; writes 2 floats past d[47] (the caller's next k).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Transpose6x8(float* s, nint l, float* d)
    {
        var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + l);
        var r2 = Avx.LoadVector256(s + 2 * l); var r3 = Avx.LoadVector256(s + 3 * l);
        var r4 = Avx.LoadVector256(s + 4 * l); var r5 = Avx.LoadVector256(s + 5 * l);
        var z = Vector256<float>.Zero;
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(z, z);   var t7 = z;
        // u_q (q = 0..3): per 128-bit lane, column 4L + q for rows 0..3 (u0..u3) and rows 4..7 (u4..u7)
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d + 0 * MR, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + 1 * MR, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * MR, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * MR, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * MR, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * MR, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * MR, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * MR, Avx.Permute2x128(u3, u7, 0x31));
    }
}
