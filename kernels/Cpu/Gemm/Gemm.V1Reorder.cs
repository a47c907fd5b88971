// Gemm.V1Reorder.cs — loop reordering: i-k-j turns the inner loop into a row AXPY
//   C[i, :] += (alpha · op(A)[i, k]) · op(B)[k, :]
// so B's rows stream contiguously through SIMD (TensorPrimitives picks Vector512 here).
// With transB the rows of op(B) are columns in memory, so that case uses the dual form
//   C[i, j] = alpha · dot(op(A)[i, :], B[j, :]) + beta · C[i, j]
// with op(A)'s row gathered once per i (K floats from a pool, never a transposed matrix).
// No cache blocking: for n ≳ 512 each row of C re-streams all of B from memory.
// See Gemm.cs for the contract and how to run the tests.
using System.Buffers;
using System.Numerics.Tensors;

namespace Denoise.Kernels.Cpu;

public static partial class Gemm
{
    public static void V1Reorder(bool transA, bool transB, int M, int N, int K, float alpha,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, float beta, Span<float> C, int ldc)
    {
        CheckArgs(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (M == 0 || N == 0) return;

        if (transB)
        {
            float[] rowBuf = ArrayPool<float>.Shared.Rent(Math.Max(K, 1));
            Span<float> aRow = rowBuf.AsSpan(0, K);
            for (int i = 0; i < M; i++)
            {
                for (int k = 0; k < K; k++) aRow[k] = OpA(transA, A, lda, i, k);
                Span<float> cRow = C.Slice(i * ldc, N);
                for (int j = 0; j < N; j++)
                {
                    float dot = K == 0 ? 0f : TensorPrimitives.Dot(aRow, B.Slice(j * ldb, K));
                    cRow[j] = beta == 0f ? alpha * dot : alpha * dot + beta * cRow[j];
                }
            }
            ArrayPool<float>.Shared.Return(rowBuf);
            return;
        }

        for (int i = 0; i < M; i++)
        {
            Span<float> cRow = C.Slice(i * ldc, N);
            if (beta == 0f) cRow.Clear();
            else if (beta != 1f) TensorPrimitives.Multiply(cRow, beta, cRow);
            for (int k = 0; k < K; k++)
            {
                float a = alpha * OpA(transA, A, lda, i, k);
                TensorPrimitives.MultiplyAdd(B.Slice(k * ldb, N), a, cRow, cRow);
            }
        }
    }
}
