// Functional.Attention.cs — softmax(scale·Q·Kᵀ [+ causal])·V as one recorded op over the blockwise
// kernels of kernels/Cpu/Attention/ (FlashAttention forward, FlashAttention-2 backward; the math is
// in Attention.cs there), or of kernels/Gpu/Attention/FlashAttention.cs for GPU tensors. Used by
// F.ScaledDotProductAttention when no explicit mask is given.
//
// The forward saves only O and the row log-sum-exp (Tq floats per (b, h)), never the Tq × Tk
// probabilities. First-order backward runs the fused backward kernel. Under create-graph (the
// backward closure runs with recording enabled exactly then) it instead builds the same rule from
// differentiable tensor ops — recomputing P with matmul and softmax — so second-order gradients work.
// q, k, v are read in place through (offset, batch, head, row) strides, so the head-split views of a
// fused qkv projection (UNet SelfAttention, GPT blocks) are not copied.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN.FusedAttention"
using Denoise.Kernels.Cpu;
using AttentionKernel = Denoise.Kernels.Cpu.Attention;

namespace Denoise;

public static partial class F
{
    /// <summary>Off: every call takes the composed matmul/softmax path (benchmarks time both in one
    /// process, e.g. bench `versions --attention`).</summary>
    internal static bool UseFusedAttention { get; set; } = true;

    /// <summary>Same leading (batch, head, …) dims on q, k, v and at least one key; otherwise the composed
    /// path handles broadcasting and the empty softmax.</summary>
    static bool CanFuseAttention(Tensor q, Tensor k, Tensor v) =>
        (q.Device == Device.Cpu   // CPU kernel; GPU tensors: the flash kernels when their tiles fit the head dims
         || (q.Storage is GpuStorage && k.Device == q.Device && v.Device == q.Device && q.Rank >= 2 && v.Rank >= 2
             && GpuOps.AttentionSupports(q, q.Shape[^1], v.Shape[^1])))
        && q.DType == DType.Float32 && k.DType == DType.Float32 && v.DType == DType.Float32
        && q.Rank == k.Rank && k.Rank == v.Rank && k.Shape[^2] > 0
        && q.Shape[..^2].SequenceEqual(k.Shape[..^2]) && k.Shape[..^2].SequenceEqual(v.Shape[..^2]);

    internal static Tensor AttentionFused(Tensor q, Tensor k, Tensor v, bool isCausal, float scale)
    {
        Tensor.CheckSameDevice("scaled_dot_product_attention", q, k);
        Tensor.CheckSameDevice("scaled_dot_product_attention", k, v);
        int Tq = q.Shape[^2], Tk = k.Shape[^2], D = q.Shape[^1], Dv = v.Shape[^1];
        var lead = q.Shape[..^2].ToArray();
        var (B, H) = SplitLead(lead);
        var s = new AttentionShape(B, H, Tq, Tk, D, Dv, scale, isCausal);
        var (qs, ql) = AttentionOperand(q, B, H);
        var (ks, kl) = AttentionOperand(k, B, H);
        var (vs, vl) = AttentionOperand(v, B, H);
        var o = Tensor.Empty([.. lead, Tq, Dv], DType.Float32, q.Device);    // (…, Tq, Dv)
        var lse = Tensor.Empty([B * H * Tq], DType.Float32, q.Device);       // log Σ_j exp(S_ij): all the backward keeps of P
        if (o.Storage is GpuStorage) GpuOps.AttentionForward(qs, ql, ks, kl, vs, vl, o, lse, s);   // kernels/Gpu/Attention
        else AttentionKernel.Forward(qs.Data, ql, ks.Data, kl, vs.Data, vl, o.Span, lse.Span, s);

        return Autograd.Record("scaled_dot_product_attention", o, [q, k, v], g =>
        {
            var (dq, dk, dv) = Autograd.IsEnabled
                ? AttentionBackwardComposed(g, q, k, v, isCausal, scale)
                : AttentionBackwardFused(g, qs, ql, ks, kl, vs, vl, o, lse, s);
            return [q.RequiresGrad ? dq : null, k.RequiresGrad ? dk : null, v.RequiresGrad ? dv : null];
        });
    }

    static (Tensor Dq, Tensor Dk, Tensor Dv) AttentionBackwardFused(Tensor g, Tensor q, AttentionLayout ql, Tensor k,
        AttentionLayout kl, Tensor v, AttentionLayout vl, Tensor o, Tensor lse, AttentionShape s)
    {
        var (gs, gl) = AttentionOperand(g, s.B, s.H);
        var dq = Tensor.Empty(q.Shape.ToArray(), DType.Float32, q.Device);
        var dk = Tensor.Empty(k.Shape.ToArray(), DType.Float32, q.Device);
        var dv = Tensor.Empty(v.Shape.ToArray(), DType.Float32, q.Device);
        if (dq.Storage is GpuStorage) { GpuOps.AttentionBackward(q, ql, k, kl, v, vl, o, lse, gs, gl, dq, dk, dv, s); return (dq, dk, dv); }
        AttentionKernel.Backward(q.Data, ql, k.Data, kl, v.Data, vl, o.Span, lse.Span, gs.Data, gl, dq.Span, dk.Span, dv.Span, s);
        return (dq, dk, dv);
    }

    /// <summary>The backward rule in differentiable ops (create-graph): P recomputed, then
    /// dV = Pᵀ·g, dS = P∘(g·Vᵀ − rowsum(P∘g·Vᵀ)), dQ = scale·dS·K, dK = scale·dSᵀ·Q.</summary>
    static (Tensor Dq, Tensor Dk, Tensor Dv) AttentionBackwardComposed(Tensor g, Tensor q, Tensor k, Tensor v, bool isCausal, float scale)
    {
        var scores = q.MatMul(k.T) * scale;                       // (…, Tq, Tk)
        if (isCausal) scores = scores + CausalMask(q.Shape[^2], k.Shape[^2], scores.Device);
        var p = scores.Softmax(-1);
        var dp = g.MatMul(v.T);                                   // (…, Tq, Tk)
        var ds = p * (dp - (p * dp).Sum(-1, keepDim: true));
        return (ds.MatMul(k) * scale, ds.T.MatMul(q) * scale, p.T.MatMul(g));
    }

    /// <summary>Leading dims as (B, H): H the last one of size &gt; 1, B the product of the rest.</summary>
    static (int B, int H) SplitLead(int[] lead)
    {
        int last = Array.FindLastIndex(lead, n => n != 1);
        if (last < 0) return (1, 1);
        int B = 1;
        for (int i = 0; i < last; i++) B *= lead[i];
        return (B, lead[last]);
    }

    /// <summary>
    /// The tensor and its (offset, batch, head, row) strides as the kernel reads them, without a copy
    /// when the view allows it (last dim dense, the dims before the head dim mergeable into one,
    /// non-overlapping rows); otherwise a contiguous copy.
    /// </summary>
    static (Tensor T, AttentionLayout L) AttentionOperand(Tensor t, int B, int H)
    {
        if (TryAttentionLayout(t, B, H, out var layout)) return (t, layout);
        var c = t.ContiguousCopy();
        TryAttentionLayout(c, B, H, out layout);
        return (c, layout);
    }

    static bool TryAttentionLayout(Tensor t, int B, int H, out AttentionLayout layout)
    {
        layout = default;
        var shape = t.Shape.ToArray(); var strides = t.Strides.ToArray();
        int r = t.Rank, T = shape[r - 2], C = shape[r - 1];
        if (C > 1 && strides[r - 1] != 1) return false;
        long strideT = T > 1 ? strides[r - 2] : C;
        if (strideT < C) return false;
        // Non-unit leading dims: the last is the head dim; the others must collapse into one batch stride.
        var dims = Enumerable.Range(0, r - 2).Where(i => shape[i] != 1).ToArray();
        long strideH = 0, strideB = 0;
        if (dims.Length > 0) strideH = strides[dims[^1]];
        if (dims.Length > 1)
        {
            strideB = strides[dims[^2]];
            for (int i = 0; i + 2 < dims.Length; i++)
                if (strides[dims[i]] != (long)strides[dims[i + 1]] * shape[dims[i + 1]]) return false;
        }
        if (strideB < 0 || strideH < 0 || strideT < 0) return false;
        layout = new AttentionLayout(t.Offset, strideB, strideH, strideT);
        return B * H == (dims.Length == 0 ? 1 : dims.Select(i => shape[i]).Aggregate(1, (x, y) => x * y));
    }
}
