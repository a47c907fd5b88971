// Gemm.V1Tiled.cs — 16×16 shared-memory tiles, one output per thread (Kirk & Hwu, "Programming
// Massively Parallel Processors", ch. 5). Each A and B element is fetched from DRAM once per tile
// instead of once per output: 16× less global traffic than V0, but still one FMA per two shared loads.
//
// Loads are coalesced for every layout: when op(X) is a transpose, the thread's x index walks the
// tile's rows (the contiguous direction in memory) instead of its columns.
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static partial class Gemm
{
    const int V1Tile = 16;

    public static void V1TiledKernel<TA, TB>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int m0 = Grid.IdxY * V1Tile, n0 = Grid.IdxX * V1Tile;
        if (m0 + V1Tile <= s.M && n0 + V1Tile <= s.N) V1Body<TA, TB, Interior>(A, B, C, s, m0, n0);
        else V1Body<TA, TB, Edge>(A, B, C, s, m0, n0);
    }

    static void V1Body<TA, TB, TCheck>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s, int m0, int n0)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TCheck : struct, IBounds
    {
        var As = SharedMemory.Allocate<float>(V1Tile * V1Tile);   // As[i·16 + k] = op(A)[m0 + i, k0 + k]
        var Bs = SharedMemory.Allocate<float>(V1Tile * V1Tile);   // Bs[k·16 + j] = op(B)[k0 + k, n0 + j]
        int tx = Group.IdxX, ty = Group.IdxY;
        // Coalesced roles: (r, c) index the tile so that tx runs along memory.
        int ar = TA.Transposed ? tx : ty, ac = TA.Transposed ? ty : tx;
        int br = TB.Transposed ? tx : ty, bc = TB.Transposed ? ty : tx;
        int kFull = s.K - s.K % V1Tile;
        float acc = 0f;

        // 1. full K-tiles: checked only on the Edge path (rows/cols beyond M or N)
        for (int k0 = 0; k0 < kFull; k0 += V1Tile)
        {
            As[ar * V1Tile + ac] = Load<TA, TCheck>(A, s.Lda, m0 + ar, k0 + ac, s.M, s.K);
            Bs[br * V1Tile + bc] = Load<TB, TCheck>(B, s.Ldb, k0 + br, n0 + bc, s.K, s.N);
            Group.Barrier();
            for (int k = 0; k < V1Tile; k++) acc += As[ty * V1Tile + k] * Bs[k * V1Tile + tx];
            Group.Barrier();
        }
        // 2. the partial last K-tile, always checked
        if (kFull < s.K)
        {
            As[ar * V1Tile + ac] = Load<TA, Edge>(A, s.Lda, m0 + ar, kFull + ac, s.M, s.K);
            Bs[br * V1Tile + bc] = Load<TB, Edge>(B, s.Ldb, kFull + br, n0 + bc, s.K, s.N);
            Group.Barrier();
            for (int k = 0; k < V1Tile; k++) acc += As[ty * V1Tile + k] * Bs[k * V1Tile + tx];
        }
        // 3. epilogue
        int row = m0 + ty, col = n0 + tx;
        if (!TCheck.Checked || (row < s.M && col < s.N)) Store(C, row * s.Ldc + col, acc, s);
    }
}
