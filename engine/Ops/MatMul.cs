// Matrix products. MatMul follows torch.matmul: 1-D operands are promoted (and the added axis
// removed again), leading batch dimensions broadcast. The work is one call into
// kernels/Cpu/Gemm (packed, SIMD, threaded); transposed views are passed to it as transA/transB,
// never copied. Backward: dA = dC·Bᵀ, dB = Aᵀ·dC — themselves MatMuls, so second order is free.
using Denoise.Kernels.Cpu;

namespace Denoise;

public sealed partial class Tensor
{
    public Tensor MatMul(Tensor b)
    {
        var a = this;
        a.CheckFloat("matmul"); b.CheckFloat("matmul"); CheckSameDevice("matmul", a, b);
        if (a.Rank == 0 || b.Rank == 0) throw new ArgumentException($"matmul: operands must have rank ≥ 1, got {a.ShapeStr} and {b.ShapeStr}.");
        if (a.Rank == 1 && b.Rank == 1) return a.Unsqueeze(0).MatMul(b.Unsqueeze(1)).Reshape();
        if (a.Rank == 1) return a.Unsqueeze(0).MatMul(b).Squeeze(-2);
        if (b.Rank == 1) return a.MatMul(b.Unsqueeze(1)).Squeeze(-1);

        int M = a.shape[^2], K = a.shape[^1], K2 = b.shape[^2], N = b.shape[^1];
        if (K != K2) throw new ArgumentException($"matmul: inner dimensions differ: {a.ShapeStr}{a.NameSuffix} @ {b.ShapeStr}{b.NameSuffix} ({K} vs {K2}).");
        var batchShape = ShapeUtil.Broadcast(a.shape[..^2], b.shape[..^2], "matmul (batch dimensions)");
        var y = Empty([.. batchShape, M, N], DType.Float32, a.Device);
        MatMulKernel(a, b, y, batchShape, M, N, K);

        return Autograd.Record("matmul", y, [a, b], g => [
            a.RequiresGrad ? g.MatMul(b.T).SumTo(a.shape) : null,
            b.RequiresGrad ? a.T.MatMul(g).SumTo(b.shape) : null]);
    }

    /// <summary>How a matrix (last two dims) can be handed to GEMM without copying.</summary>
    internal static (Tensor t, bool trans, int ld) GemmOperand(Tensor x)
    {
        int rows = x.shape[^2], cols = x.shape[^1];
        int rs = x.strides[^2], cs = x.strides[^1];
        if ((cs == 1 || cols == 1) && rs >= cols && rs > 0) return (x, false, rs);
        if ((rs == 1 || rows == 1) && cs >= rows && cs > 0) return (x, true, cs);
        var c = x.ContiguousCopy();
        return (c, false, Math.Max(cols, 1));
    }

    static void MatMulKernel(Tensor a, Tensor b, Tensor y, int[] batchShape, int M, int N, int K)
    {
        if (y.Numel == 0) return;
        if (y.Storage is GpuStorage) { GpuOps.MatMul(a, b, y, batchShape, M, N, K); return; }
        if (K == 0) { y.Span.Clear(); return; }
        var (ta, transA, lda) = GemmOperand(a);
        var (tb, transB, ldb) = GemmOperand(b);
        int batch = ShapeUtil.Numel(batchShape);
        var sa = BatchStrides(ta, batchShape);
        var sb = BatchStrides(tb, batchShape);
        var ad = ta.Data; var bd = tb.Data; var yd = y.Data;

        if (FlatBatchStride(sa, batchShape) is long fa && FlatBatchStride(sb, batchShape) is long fb)
        {
            Gemm.RunBatched(transA, transB, M, N, K, 1f, ad.AsSpan(ta.offset), lda, bd.AsSpan(tb.offset), ldb,
                0f, yd.AsSpan(y.offset, y.Numel), N, batch, fa, fb, (long)M * N);
            return;
        }
        // Irregular broadcast of batch dimensions: one GEMM per batch entry.
        var idx = new int[batchShape.Length];
        for (int bi = 0; bi < batch; bi++)
        {
            long oa = ta.offset, ob = tb.offset;
            for (int d = 0; d < idx.Length; d++) { oa += (long)idx[d] * sa[d]; ob += (long)idx[d] * sb[d]; }
            Gemm.Run(transA, transB, M, N, K, 1f, ad.AsSpan((int)oa), lda, bd.AsSpan((int)ob), ldb, 0f,
                yd.AsSpan(y.offset + bi * M * N, M * N), N);
            for (int d = idx.Length - 1; d >= 0; d--) { if (++idx[d] < batchShape[d]) break; idx[d] = 0; }
        }
    }

    /// <summary>Strides of x's batch dims at the broadcast batch shape (0 where broadcast).</summary>
    internal static int[] BatchStrides(Tensor x, int[] batchShape)
    {
        int xb = x.Rank - 2, lead = batchShape.Length - xb;
        var s = new int[batchShape.Length];
        for (int d = 0; d < batchShape.Length; d++)
            s[d] = d < lead || x.shape[d - lead] == 1 ? 0 : x.strides[d - lead];
        return s;
    }

    /// <summary>One stride that walks all batch entries in order, if the batch dims allow it.</summary>
    static long? FlatBatchStride(int[] strides, int[] batchShape)
    {
        long? step = null;
        for (int d = batchShape.Length - 1; d >= 0; d--)
        {
            if (batchShape[d] == 1) continue;
            if (step == null) { step = strides[d]; continue; }
            long expected = 0;
            // Dimension d must step by (inner extent) × (inner stride); with stride 0 everywhere it is a broadcast.
            int inner = 1;
            for (int k = d + 1; k < batchShape.Length; k++) inner *= batchShape[k];
            expected = step.Value * inner;
            if (strides[d] != expected) return null;
        }
        return step ?? 0;
    }
}
