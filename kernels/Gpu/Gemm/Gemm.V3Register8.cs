// Gemm.V3Register8.cs — V2 scaled up and double-buffered: a 16×16 group computes a 128×128 block,
// each thread an 8×8 register tile (16 shared loads per 64 FMAs), BK = 8.
//
// Double buffering: while the group multiplies K-tile t out of one shared buffer, each thread already
// holds tile t+1's 8 elements in registers (their global loads were issued before the multiply, so
// their latency hides behind 512 FMAs); after the multiply they go to the other buffer. One barrier
// per tile suffices: the buffer written in iteration t was last read in iteration t−1, which every
// thread finished before the previous barrier.
//
// Shared rows are padded by 4 floats: a transposed load writes 8 consecutive k of 4 columns per
// warp, and the stride 132 maps them to 32 distinct banks.
// Not done yet (a V4): 128-bit vector loads (LDG.128/LDS.128), which need a contiguous 4×4 thread
// sub-tile instead of the stride-16 one, and tensor cores through inline PTX (mma.sync, TF32).
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static partial class Gemm
{
    const int V3BM = 128, V3BN = 128, V3BK = 8, V3Pad = 4;
    const int V3AS = V3BM + V3Pad, V3BS = V3BN + V3Pad;
    const int V3ATile = V3BK * V3AS, V3BTile = V3BK * V3BS;   // floats per buffer

    public static void V3Register8Kernel<TA, TB>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int m0 = Grid.IdxY * V3BM, n0 = Grid.IdxX * V3BN;
        if (m0 + V3BM <= s.M && n0 + V3BN <= s.N) V3Body<TA, TB, Interior>(A, B, C, s, m0, n0);
        else V3Body<TA, TB, Edge>(A, B, C, s, m0, n0);
    }

    static void V3Body<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s, int m0, int n0)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
    {
        var As = SharedMemory.Allocate<float>(2 * V3ATile);
        var Bs = SharedMemory.Allocate<float>(2 * V3BTile);
        int tx = Group.IdxX, ty = Group.IdxY, t = ty * 16 + tx;
        Row8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;

        // 1. prologue: tile 0 → buffer 0
        var staged = V3Fetch<TA, TB, TCheck>(A, B, s, m0, n0, 0, t);
        V3Stage<TA, TB>(As, Bs, staged, 0, t);
        Group.Barrier();

        int buffer = 0;
        for (int k0 = 0; k0 < s.K; k0 += V3BK)
        {
            // 2. issue the global loads of the next tile (registers only)
            bool hasNext = k0 + V3BK < s.K;
            if (hasNext) staged = V3Fetch<TA, TB, TCheck>(A, B, s, m0, n0, k0 + V3BK, t);
            // 3. 8 rank-1 updates of the 8×8 register tile from the current buffer
            int aBase = buffer * V3ATile + ty, bBase = buffer * V3BTile + tx;
            for (int k = 0; k < V3BK; k++)
            {
                var b = Row8.Gather(Bs, bBase + k * V3BS, 16);
                int a = aBase + k * V3AS;
                c0 = c0.Fma(As[a], b);
                c1 = c1.Fma(As[a + 16], b);
                c2 = c2.Fma(As[a + 32], b);
                c3 = c3.Fma(As[a + 48], b);
                c4 = c4.Fma(As[a + 64], b);
                c5 = c5.Fma(As[a + 80], b);
                c6 = c6.Fma(As[a + 96], b);
                c7 = c7.Fma(As[a + 112], b);
            }
            // 4. the prefetched tile → the other buffer; one barrier per tile (see header)
            if (hasNext) V3Stage<TA, TB>(As, Bs, staged, buffer ^ 1, t);
            buffer ^= 1;
            Group.Barrier();
        }
        // 5. epilogue
        int row = m0 + ty, col = n0 + tx;
        StoreRow8<TCheck>(C, c0, row, col, s);
        StoreRow8<TCheck>(C, c1, row + 16, col, s);
        StoreRow8<TCheck>(C, c2, row + 32, col, s);
        StoreRow8<TCheck>(C, c3, row + 48, col, s);
        StoreRow8<TCheck>(C, c4, row + 64, col, s);
        StoreRow8<TCheck>(C, c5, row + 80, col, s);
        StoreRow8<TCheck>(C, c6, row + 96, col, s);
        StoreRow8<TCheck>(C, c7, row + 112, col, s);
    }

    /// <summary>The 4 A and 4 B elements thread t stages for the K-tile at k0 (A as C0..C3, B as C4..C7).
    /// A partial K-tile is always loaded with checks.</summary>
    static Row8 V3Fetch<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, GemmShape s, int m0, int n0, int k0, int t)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
        => !TCheck.Checked && k0 + V3BK <= s.K
            ? V3FetchCore<TA, TB, Interior>(A, B, s, m0, n0, k0, t)
            : V3FetchCore<TA, TB, Edge>(A, B, s, m0, n0, k0, t);

    static Row8 V3FetchCore<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, GemmShape s, int m0, int n0, int k0, int t)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
        => new()
        {
            C0 = V3FetchA<TA, TCheck>(A, s, m0, k0, t),
            C1 = V3FetchA<TA, TCheck>(A, s, m0, k0, t + 256),
            C2 = V3FetchA<TA, TCheck>(A, s, m0, k0, t + 512),
            C3 = V3FetchA<TA, TCheck>(A, s, m0, k0, t + 768),
            C4 = V3FetchB<TB, TCheck>(B, s, n0, k0, t),
            C5 = V3FetchB<TB, TCheck>(B, s, n0, k0, t + 256),
            C6 = V3FetchB<TB, TCheck>(B, s, n0, k0, t + 512),
            C7 = V3FetchB<TB, TCheck>(B, s, n0, k0, t + 768),
        };

    static float V3FetchA<TA, TCheck>(ArrayView<float> A, GemmShape s, int m0, int k0, int e)
        where TA : struct, IOperandLayout where TCheck : struct, IBounds
    {
        TileCoord<TA>(e, V3BM, V3BK, out int i, out int k);
        return Load<TA, TCheck>(A, s.Lda, m0 + i, k0 + k, s.M, s.K);
    }

    static float V3FetchB<TB, TCheck>(ArrayView<float> B, GemmShape s, int n0, int k0, int e)
        where TB : struct, IOperandLayout where TCheck : struct, IBounds
    {
        TileCoord<TB>(e, V3BK, V3BN, out int k, out int j);
        return Load<TB, TCheck>(B, s.Ldb, k0 + k, n0 + j, s.K, s.N);
    }

    static void V3Stage<TA, TB>(ArrayView<float> As, ArrayView<float> Bs, Row8 v, int buffer, int t)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int a = buffer * V3ATile, b = buffer * V3BTile;
        TileCoord<TA>(t, V3BM, V3BK, out int i, out int k); As[a + k * V3AS + i] = v.C0;
        TileCoord<TA>(t + 256, V3BM, V3BK, out i, out k); As[a + k * V3AS + i] = v.C1;
        TileCoord<TA>(t + 512, V3BM, V3BK, out i, out k); As[a + k * V3AS + i] = v.C2;
        TileCoord<TA>(t + 768, V3BM, V3BK, out i, out k); As[a + k * V3AS + i] = v.C3;
        TileCoord<TB>(t, V3BK, V3BN, out k, out int j); Bs[b + k * V3BS + j] = v.C4;
        TileCoord<TB>(t + 256, V3BK, V3BN, out k, out j); Bs[b + k * V3BS + j] = v.C5;
        TileCoord<TB>(t + 512, V3BK, V3BN, out k, out j); Bs[b + k * V3BS + j] = v.C6;
        TileCoord<TB>(t + 768, V3BK, V3BN, out k, out j); Bs[b + k * V3BS + j] = v.C7;
    }
}
