// TransposeCopy.cs — dst[c·ldd + r] = src[r·lds + c] for an R × C block of floats: the contiguous
// copy of a transposed view (Tensor.Contiguous / Reshape of x.Transpose(1, 2)), e.g. the UNet
// attention's (B, C, H·W) → (B, T, C) token layout and back, forward and backward (M1: four
// 64 × 128 × 49 copies a step at 7×7).
//
// Versions, each kept and tested against V0 (tests/Kernels/TransposeCopyTests.cs):
//   V0Naive     the element loop over dst in order (src read with stride lds): the engine's
//               strided copy did this, each element a separate cache line touch once lds ≥ 16
//   V1Blocks16  16 × 16 tiles transposed in AVX-512 registers (Transpose16: 16 loads, 16 stores),
//               the edges scalar; a permutation, so exactly V0's values  (current)
//               M1 step, 1 thread CPU time, the `reshape` rows of bench `m1 --profile --cpu-time --threads 1`
//               (min of 3 interleaved runs, load 8–13): forward 0.95 → 0.54 ms, backward 1.34 → 1.04 ms.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.TransposeCopy
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public enum TransposeCopyVersion { V0Naive, V1Blocks16 }

public static unsafe class TransposeCopy
{
    /// <summary>dst[c·ldd + r] = src[r·lds + c], r &lt; R, c &lt; C (R rows of src become R columns of dst).</summary>
    public static void Run(float* src, int lds, float* dst, int ldd, int R, int C) =>
        Run(TransposeCopyVersion.V1Blocks16, src, lds, dst, ldd, R, C);

    // Fully optimised from the first call: callers run it many times a step (conv V8 once per image and map), and as
    // tier-0 code, with Transpose16 not inlined, it ran ~3× slower through a benchmark's first 100 ms.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Run(TransposeCopyVersion v, float* src, int lds, float* dst, int ldd, int R, int C)
    {
        if (R < 0 || C < 0 || (R > 1 && lds < C) || (C > 1 && ldd < R))
            throw new ArgumentException($"TransposeCopy: {R} × {C} block with lds {lds}, ldd {ldd}: rows would overlap.");
        if (v == TransposeCopyVersion.V0Naive || !Avx512F.IsSupported) { V0(src, lds, dst, ldd, 0, R, 0, C); return; }
        int R16 = R & ~15, C16 = C & ~15;
        for (int r = 0; r < R16; r += 16)
            for (int c = 0; c < C16; c += 16)
                Transpose16.Run(src + (long)r * lds + c, lds, dst + (long)c * ldd + r, ldd);
        V0(src, lds, dst, ldd, 0, R16, C16, C);   // right edge of the tiled rows
        V0(src, lds, dst, ldd, R16, R, 0, C);     // bottom rows
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    static void V0(float* src, int lds, float* dst, int ldd, int r0, int r1, int c0, int c1)
    {
        for (int c = c0; c < c1; c++)
        {
            float* d = dst + (long)c * ldd;
            for (int r = r0; r < r1; r++) d[r] = src[(long)r * lds + c];
        }
    }
}
