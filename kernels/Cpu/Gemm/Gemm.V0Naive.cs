// Gemm.V0Naive.cs — the reference GEMM: i-j-k loops with a double accumulator.
// Slow on purpose and obviously right; every other version is tested against it.
// See Gemm.cs for the contract and how to run the tests.
namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    public static void V0Naive(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
    {
        CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                // Double accumulation keeps the reference ~2^29 times more accurate than the
                // float versions, so test errors are theirs, not the reference's.
                double sum = 0;
                for (int k = 0; k < K; k++)
                    sum += (double)OpA(transA, A, lda, i, k) * OpB(transB, B, ldb, k, j);
                ref float c = ref C[i * ldc + j];
                c = beta == 0f ? (float)(alpha * sum) : (float)(alpha * sum + (double)beta * c);
            }
    }
}
