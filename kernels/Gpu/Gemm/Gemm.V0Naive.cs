// Gemm.V0Naive.cs — one thread per output element, the K loop reading A and B from global memory.
// The reference every other GPU version is tested against (see Gemm.cs).
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static partial class Gemm
{
    public static void V0NaiveKernel<TA, TB>(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmShape s)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int col = Grid.GlobalIndex.X, row = Grid.GlobalIndex.Y;
        if (row >= s.M || col >= s.N) return;
        float acc = 0f;
        for (int k = 0; k < s.K; k++)
            acc += A[TA.Offset(row, k, s.Lda)] * B[TB.Offset(k, col, s.Ldb)];
        Store(C, row * s.Ldc + col, acc, s);
    }
}
