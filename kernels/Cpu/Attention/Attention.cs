// Attention.cs — the attention core O = softmax(scale·Q·Kᵀ [+ causal mask])·V, forward and backward,
// over B×H independent (batch, head) problems; the version table and the entry points.
//
// Math (Vaswani et al. 2017, §3.2.1), per (b, h), with S = scale·Q·Kᵀ (Tq × Tk), P = softmax_rows(S):
//   O = P·V,   lse_i = log Σ_j exp(S_ij)                          (lse is all the backward needs of P)
//   dV = Pᵀ·dO,  dP = dO·Vᵀ,  D_i = Σ_c dO_ic·O_ic (= Σ_j P_ij·dP_ij),  dS = P∘(dP − D),
//   dQ = scale·dS·K,  dK = scale·dSᵀ·Q.
// Causal (top-left aligned, as torch's is_causal): query i sees keys j ≤ i. A row that sees no key
// yields NaN, as the composed softmax does.
//
// Versions, each kept and tested against V0 (tests/Kernels/AttentionTests.cs). GFLOP/s on one thread
// (thread CPU time; the machine was overloaded) forward / backward, for the WORKLOADS K4 shapes
// T = 49 · 128 · 1024 causal (bench/results/cpu-2026-11-23-attention.md; single-core peak ≈ 225):
//   V0Reference  ≈ 0.4 everywhere
//   V1Flash      24 / 43 · 59 / 80 · 85 / 108
//   V0Reference  plain loops in double, one (b, h, query row) at a time, with the score row
//                materialised; the reference.
//   V1Flash      FlashAttention (Dao et al. 2022) forward: Q blocks of 64 rows × K/V blocks of 64 keys,
//                an online softmax (running max m and sum l per row, O rescaled by exp(m_old − m_new)),
//                only lse = m + log l saved; causal blocks above the diagonal skipped. Backward as
//                FlashAttention-2 (Dao 2023): P recomputed per block from lse, D = rowsum(dO∘O), dK/dV
//                accumulated per K block, dQ per (b, h). Block products are register-tiled micro-GEMMs
//                on Vector512 / Vector256 / scalar lanes (AttentionLanes.cs, chosen at run time).
//                Packing, row scaling and the output copies go through TensorPrimitives/memmove: at
//                T = 49 (one block) the scalar versions of those loops took as long as the FMAs.
//                Extra memory: O(block² + T·d) per (b, h) problem in flight, never T×T.  (current)
// Parallel over parts that own their outputs outright — (b·h, query block) in the forward, (b·h)
// in the backward — on the WorkerPool, so the bits do not depend on the thread count.
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Attention
// Bench: dotnet run -c Release --project bench -- --filter '*AttentionBench*'
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public enum AttentionVersion { V0Reference, V1Flash }

/// <summary>Which SIMD lanes V1 runs on; Auto picks the widest the CPU accelerates. Tests force the others.</summary>
public enum AttentionLanes { Auto, V512, V256, Scalar }

/// <summary>
/// B·H problems: q (Tq × D), k (Tk × D), v (Tk × Dv) → o (Tq × Dv). Scale multiplies Q·Kᵀ.
/// </summary>
public readonly record struct AttentionShape(int B, int H, int Tq, int Tk, int D, int Dv, float Scale, bool Causal)
{
    public long Problems => (long)B * H;
    /// <summary>Multiply-adds ×2 of the forward (Q·Kᵀ and P·V), halved (about) when causal.</summary>
    public double ForwardFlops => 2.0 * Problems * Tq * Tk * (D + Dv) * (Causal ? 0.5 : 1.0);
}

/// <summary>
/// Where one operand lives in its buffer: element (b, h, t, c) is at
/// Offset + b·StrideB + h·StrideH + t·StrideT + c (the last dim is contiguous). Lets the engine pass
/// head-split views such as qkv.Permute(2, 0, 3, 1, 4).Select(0, i) without a copy.
/// </summary>
public readonly record struct AttentionLayout(long Offset, long StrideB, long StrideH, long StrideT)
{
    /// <summary>Dense (B, H, T, C) storage.</summary>
    public static AttentionLayout Contiguous(int H, int T, int C) => new(0, (long)H * T * C, (long)T * C, C);

    internal long Base(int b, int h) => Offset + b * StrideB + h * StrideH;
}

public static unsafe partial class Attention
{
    /// <summary>Query rows per block (Br) and keys per block (Bc): a 64×64 score block is 16 KiB and
    /// stays in L1 with the packed K/V blocks for d ≤ 64.</summary>
    public const int BlockQ = 64, BlockK = 64;

    /// <summary>o (B·H·Tq·Dv, dense) and lse (B·H·Tq, dense) with the current best version.</summary>
    public static void Forward(ReadOnlySpan<float> q, in AttentionLayout ql, ReadOnlySpan<float> k, in AttentionLayout kl,
        ReadOnlySpan<float> v, in AttentionLayout vl, Span<float> o, Span<float> lse, in AttentionShape s)
        => Forward(AttentionVersion.V1Flash, q, ql, k, kl, v, vl, o, lse, s);

    /// <summary>dq, dk, dv (dense, overwritten) from the saved o and lse and the upstream gradient dO.</summary>
    public static void Backward(ReadOnlySpan<float> q, in AttentionLayout ql, ReadOnlySpan<float> k, in AttentionLayout kl,
        ReadOnlySpan<float> v, in AttentionLayout vl, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, in AttentionLayout dOl, Span<float> dq, Span<float> dk, Span<float> dv, in AttentionShape s)
        => Backward(AttentionVersion.V1Flash, q, ql, k, kl, v, vl, o, lse, dO, dOl, dq, dk, dv, s);

    public static void Forward(AttentionVersion version, ReadOnlySpan<float> q, in AttentionLayout ql, ReadOnlySpan<float> k,
        in AttentionLayout kl, ReadOnlySpan<float> v, in AttentionLayout vl, Span<float> o, Span<float> lse, in AttentionShape s,
        AttentionLanes lanes = AttentionLanes.Auto)
    {
        CheckShape(s);
        CheckOperand("q", q.Length, ql, s, s.Tq, s.D);
        CheckOperand("k", k.Length, kl, s, s.Tk, s.D);
        CheckOperand("v", v.Length, vl, s, s.Tk, s.Dv);
        CheckDense("o", o.Length, s.Problems * s.Tq * s.Dv);
        CheckDense("lse", lse.Length, s.Problems * s.Tq);
        if (s.Problems == 0 || s.Tq == 0) return;
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse)
        {
            var a = new Operands(s, pq, ql, pk, kl, pv, vl, po, pl);
            if (version == AttentionVersion.V0Reference) { V0Forward(a); return; }
            switch (Pick(lanes))
            {
                case AttentionLanes.V512: V1Forward<Vector512<float>, Lanes512>(a); break;
                case AttentionLanes.V256: V1Forward<Vector256<float>, Lanes256>(a); break;
                default: V1Forward<float, LanesScalar>(a); break;
            }
        }
    }

    public static void Backward(AttentionVersion version, ReadOnlySpan<float> q, in AttentionLayout ql, ReadOnlySpan<float> k,
        in AttentionLayout kl, ReadOnlySpan<float> v, in AttentionLayout vl, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, in AttentionLayout dOl, Span<float> dq, Span<float> dk, Span<float> dv, in AttentionShape s,
        AttentionLanes lanes = AttentionLanes.Auto)
    {
        CheckShape(s);
        CheckOperand("q", q.Length, ql, s, s.Tq, s.D);
        CheckOperand("k", k.Length, kl, s, s.Tk, s.D);
        CheckOperand("v", v.Length, vl, s, s.Tk, s.Dv);
        CheckOperand("dO", dO.Length, dOl, s, s.Tq, s.Dv);
        CheckDense("o", o.Length, s.Problems * s.Tq * s.Dv);
        CheckDense("lse", lse.Length, s.Problems * s.Tq);
        CheckDense("dq", dq.Length, s.Problems * s.Tq * s.D);
        CheckDense("dk", dk.Length, s.Problems * s.Tk * s.D);
        CheckDense("dv", dv.Length, s.Problems * s.Tk * s.Dv);
        if (s.Problems == 0) return;
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse, pdo = dO, pdq = dq, pdk = dk, pdv = dv)
        {
            var a = new Operands(s, pq, ql, pk, kl, pv, vl, po, pl);
            var g = new Gradients(pdo, dOl, pdq, pdk, pdv);
            if (version == AttentionVersion.V0Reference) { V0Backward(a, g); return; }
            switch (Pick(lanes))
            {
                case AttentionLanes.V512: V1Backward<Vector512<float>, Lanes512>(a, g); break;
                case AttentionLanes.V256: V1Backward<Vector256<float>, Lanes256>(a, g); break;
                default: V1Backward<float, LanesScalar>(a, g); break;
            }
        }
    }

    /// <summary>The lanes V1 will actually use for a request (V512 falls back where the CPU lacks it).</summary>
    public static AttentionLanes Pick(AttentionLanes lanes)
    {
        bool has512 = Vector512.IsHardwareAccelerated, has256 = Vector256.IsHardwareAccelerated;
        return lanes switch
        {
            AttentionLanes.Auto => has512 ? AttentionLanes.V512 : has256 ? AttentionLanes.V256 : AttentionLanes.Scalar,
            AttentionLanes.V512 => has512 ? AttentionLanes.V512 : Pick(AttentionLanes.Auto),
            AttentionLanes.V256 => has256 ? AttentionLanes.V256 : AttentionLanes.Scalar,
            _ => AttentionLanes.Scalar,
        };
    }

    /// <summary>The inputs of one call as raw pointers (the jobs sit in a static slot while workers run them).</summary>
    readonly struct Operands(AttentionShape s, float* q, AttentionLayout ql, float* k, AttentionLayout kl,
        float* v, AttentionLayout vl, float* o, float* lse)
    {
        public readonly AttentionShape S = s;
        public readonly float* Q = q, K = k, V = v, O = o, Lse = lse;
        public readonly AttentionLayout Ql = ql, Kl = kl, Vl = vl;
        public int B => S.B; public int H => S.H;
        public float* QAt(int bh) => Q + Ql.Base(bh / S.H, bh % S.H);
        public float* KAt(int bh) => K + Kl.Base(bh / S.H, bh % S.H);
        public float* VAt(int bh) => V + Vl.Base(bh / S.H, bh % S.H);
        public float* OAt(int bh) => O + (long)bh * S.Tq * S.Dv;
        public float* LseAt(int bh) => Lse + (long)bh * S.Tq;
    }

    readonly struct Gradients(float* dO, AttentionLayout dOl, float* dq, float* dk, float* dv)
    {
        public readonly float* DO = dO, DQ = dq, DK = dk, DV = dv;
        public readonly AttentionLayout DOl = dOl;
        public float* DOAt(int bh, int H) => DO + DOl.Base(bh / H, bh % H);
    }

    static void CheckShape(in AttentionShape s)
    {
        if (s.B < 0 || s.H < 0 || s.Tq < 0 || s.Tk < 0 || s.D < 0 || s.Dv < 0)
            throw new ArgumentException($"attention: negative size in {s}.");
        if (!float.IsFinite(s.Scale)) throw new ArgumentException($"attention: scale {s.Scale} is not finite.");
    }

    /// <summary>Checks that every element the layout addresses lies inside the buffer (pointers are unchecked below).</summary>
    static void CheckOperand(string name, int length, in AttentionLayout l, in AttentionShape s, int T, int C)
    {
        if (s.Problems == 0 || T == 0 || C == 0) return;
        if (l.Offset < 0 || l.StrideB < 0 || l.StrideH < 0 || l.StrideT < 0)
            throw new ArgumentException($"attention: {name} layout {l} has a negative offset or stride.");
        long last = l.Offset + (long)(s.B - 1) * l.StrideB + (long)(s.H - 1) * l.StrideH + (long)(T - 1) * l.StrideT + C - 1;
        if (last >= length || l.StrideT < C && T > 1)
            throw new ArgumentException($"attention: {name} ({s.B}, {s.H}, {T}, {C}) with layout {l} does not fit its buffer of {length} floats " +
                "(or its rows overlap).");
    }

    static void CheckDense(string name, int length, long expected)
    {
        if (length < expected)
            throw new ArgumentException($"attention: {name} has {length} floats; expected at least {expected}.");
    }
}
