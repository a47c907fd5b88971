// Transpose16.cs — a 16 × 16 float block transposed in AVX-512 registers, shared by GEMM V2's B packing
// (kernels/Cpu/Gemm/Gemm.V2Packed.cs, the transposed-B case) and conv V5's pixel-tile stores and gyᵀ
// packing (kernels/Cpu/Conv/Conv2d.V5Pixels.cs). Exact (a permutation), so callers' bits do not depend on it.
// Needs Avx512F.IsSupported; callers check it before taking their AVX-512 paths.
// Tested through both callers: tests/Kernels/GemmTests.cs (transposed B, odd shapes), tests/Kernels/Conv2dTests.cs.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

internal static unsafe class Transpose16
{
    /// <summary>
    /// dst[k·ldd + r] = src[r·lds + k] for a 16 × 16 block: 32- and 64-bit unpacks transpose each 128-bit
    /// lane's 4 × 4 blocks, two rounds of 128-bit lane shuffles put the blocks in place. Written with locals so
    /// the JIT keeps all 32 values in registers instead of round-tripping them through stackalloc'd arrays.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(float* src, nint lds, float* dst, nint ldd)
    {
        // Rows 4i … 4i+3 → u[4i + q], lane L holding rows 4i … 4i+3 of column 4L + q.
        Quad(src, lds, out var u0, out var u1, out var u2, out var u3);
        Quad(src + 4 * lds, lds, out var u4, out var u5, out var u6, out var u7);
        Quad(src + 8 * lds, lds, out var u8, out var u9, out var u10, out var u11);
        Quad(src + 12 * lds, lds, out var u12, out var u13, out var u14, out var u15);
        Place(u0, u4, u8, u12, dst, ldd);
        Place(u1, u5, u9, u13, dst + ldd, ldd);
        Place(u2, u6, u10, u14, dst + 2 * ldd, ldd);
        Place(u3, u7, u11, u15, dst + 3 * ldd, ldd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Quad(float* s, nint lds, out Vector512<float> q0, out Vector512<float> q1, out Vector512<float> q2, out Vector512<float> q3)
    {
        var a = Vector512.Load(s); var b = Vector512.Load(s + lds);
        var c = Vector512.Load(s + 2 * lds); var d = Vector512.Load(s + 3 * lds);
        var r0 = Avx512F.UnpackLow(a, b).AsDouble(); var r1 = Avx512F.UnpackHigh(a, b).AsDouble();   // lane L: a[4L], b[4L], a[4L+1], b[4L+1] / +2, +3
        var r2 = Avx512F.UnpackLow(c, d).AsDouble(); var r3 = Avx512F.UnpackHigh(c, d).AsDouble();
        q0 = Avx512F.UnpackLow(r0, r2).AsSingle(); q1 = Avx512F.UnpackHigh(r0, r2).AsSingle();
        q2 = Avx512F.UnpackLow(r1, r3).AsSingle(); q3 = Avx512F.UnpackHigh(r1, r3).AsSingle();
    }

    /// <summary>Columns q, 4 + q, 8 + q, 12 + q (dst rows 0, 4, 8, 12 from dst) out of the four row quads' u_q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Place(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* dst, nint ldd)
    {
        var x0 = Avx512F.Shuffle4x128(a, b, 0x44); var x1 = Avx512F.Shuffle4x128(a, b, 0xEE);
        var y0 = Avx512F.Shuffle4x128(c, d, 0x44); var y1 = Avx512F.Shuffle4x128(c, d, 0xEE);
        Avx512F.Shuffle4x128(x0, y0, 0x88).Store(dst);
        Avx512F.Shuffle4x128(x0, y0, 0xDD).Store(dst + 4 * ldd);
        Avx512F.Shuffle4x128(x1, y1, 0x88).Store(dst + 8 * ldd);
        Avx512F.Shuffle4x128(x1, y1, 0xDD).Store(dst + 12 * ldd);
    }
}
