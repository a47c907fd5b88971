// Gemm.V2Register.cs — register blocking (Volkov & Demmel, "Benchmarking GPUs to Tune Dense Linear
// Algebra", SC 2008): a 16×16 group computes a 64×64 block of C, each thread a 4×4 register tile.
// Per k the thread loads 4 values of A and 4 of B from shared memory and does 16 FMAs (V1: 1 FMA
// per 2 loads), so shared-memory bandwidth stops being the limit.
//
// The thread's outputs are strided by 16 (rows ty + 16i, columns tx + 16j): a warp then reads B
// from 32 consecutive floats and A as a broadcast, free of bank conflicts, and stores C in 64-byte runs.
// Tiles in shared memory are k-major (As[k][i], Bs[k][j]) with rows padded by 2 floats so that the
// strided stores of a transposed load land in distinct banks.
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static partial class Gemm
{
    const int V2BM = 64, V2BN = 64, V2BK = 16, V2Pad = 2;
    const int V2AS = V2BM + V2Pad, V2BS = V2BN + V2Pad;     // row strides of the shared tiles

    public static void V2RegisterKernel<TA, TB>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int m0 = Grid.IdxY * V2BM, n0 = Grid.IdxX * V2BN;
        if (m0 + V2BM <= s.M && n0 + V2BN <= s.N) V2Body<TA, TB, Interior>(A, B, C, s, m0, n0);
        else V2Body<TA, TB, Edge>(A, B, C, s, m0, n0);
    }

    static void V2Body<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s, int m0, int n0)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
    {
        var As = SharedMemory.Allocate<float>(V2BK * V2AS);
        var Bs = SharedMemory.Allocate<float>(V2BK * V2BS);
        int tx = Group.IdxX, ty = Group.IdxY, t = ty * 16 + tx;
        Row4 c0 = default, c1 = default, c2 = default, c3 = default;

        for (int k0 = 0; k0 < s.K; k0 += V2BK)
        {
            // 1. stage the A and B tiles (4 elements each per thread); a partial K-tile is always checked
            if (!TCheck.Checked && k0 + V2BK <= s.K) V2LoadTiles<TA, TB, Interior>(A, B, As, Bs, s, m0, n0, k0, t);
            else V2LoadTiles<TA, TB, Edge>(A, B, As, Bs, s, m0, n0, k0, t);
            Group.Barrier();
            // 2. 16 rank-1 updates of the 4×4 register tile
            for (int k = 0; k < V2BK; k++)
            {
                var b = Row4.Gather(Bs, k * V2BS + tx, 16);
                int a = k * V2AS + ty;
                c0 = c0.Fma(As[a], b);
                c1 = c1.Fma(As[a + 16], b);
                c2 = c2.Fma(As[a + 32], b);
                c3 = c3.Fma(As[a + 48], b);
            }
            Group.Barrier();
        }
        // 3. epilogue
        int row = m0 + ty, col = n0 + tx;
        StoreRow4<TCheck>(C, c0, row, col, s);
        StoreRow4<TCheck>(C, c1, row + 16, col, s);
        StoreRow4<TCheck>(C, c2, row + 32, col, s);
        StoreRow4<TCheck>(C, c3, row + 48, col, s);
    }

    static void V2LoadTiles<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> As, ArrayView<float> Bs,
        GemmShape s, int m0, int n0, int k0, int t)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
    {
        for (int e = t; e < V2BM * V2BK; e += 256)
        {
            TileCoord<TA>(e, V2BM, V2BK, out int i, out int k);
            As[k * V2AS + i] = Load<TA, TCheck>(A, s.Lda, m0 + i, k0 + k, s.M, s.K);
        }
        for (int e = t; e < V2BK * V2BN; e += 256)
        {
            TileCoord<TB>(e, V2BK, V2BN, out int k, out int j);
            Bs[k * V2BS + j] = Load<TB, TCheck>(B, s.Ldb, k0 + k, n0 + j, s.K, s.N);
        }
    }
}
