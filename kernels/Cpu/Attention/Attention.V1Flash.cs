// Attention.V1Flash.cs — blockwise attention with an online softmax: FlashAttention's forward
// (Dao et al., "FlashAttention", 2022, Algorithm 1) and FlashAttention-2's backward (Dao, 2023,
// Algorithm 2), on the CPU. The score matrix exists only as one BlockQ × BlockK tile at a time.
//
// Forward, one part = one (b·h, query block of ≤ 64 rows):
//   1. pack Q_blk·scale; O_acc = 0, m = −∞, l = 0 per row
//   2. for each K/V block the rows can see (causal: blocks above the diagonal are never visited):
//        pack Kᵀ (D × Bc) and V (Bc × Dv), zero-padded to whole vectors
//        S = Q_blk·Kᵀ; mask the padding and (on the diagonal) the future keys with −∞
//        per row: m' = max(m, rowmax S), P = exp(S − m'), l = l·e^(m−m') + rowsum P, O_acc·= e^(m−m')
//        O_acc += P·V
//   3. O = O_acc / l,  lse = m + log l
// Backward, one part = one b·h problem (so dQ, dK, dV are each written by exactly one part):
//   D = rowsum(dO∘O); for each K/V block: dK_acc = dV_acc = 0, then for each query block that can
//   see it: P = exp(Q·scale·Kᵀ − lse), dV_acc += Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − D),
//   dQ_acc += dS·K, dK_acc += dSᵀ·(Q·scale); finally dQ = scale·dQ_acc.
// Every product above is Mm, a register-tiled micro-GEMM (16 accumulators: 4 rows × 4 vectors or
// 8 rows × 2; the A element broadcast, B rows streamed) over the lanes of AttentionLanes.cs.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Attention
using System.Buffers;
using System.Numerics.Tensors;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Attention
{
    // Parts are ranges of independent items (a query block, or a whole problem). The range bounds
    // depend on the shape only, and no item's arithmetic depends on its part: the bits are the same
    // on any thread count. 256 parts is plenty of slack for load balance on a handful of cores.
    const int MaxAttentionParts = 256;

    static int RoundUp(int n, int w) => (n + w - 1) / w * w;

    // ───────────────────── forward ─────────────────────

    static void V1Forward<TV, L>(in Operands a) where TV : unmanaged where L : ILanes<TV>
    {
        int nQB = (a.S.Tq + BlockQ - 1) / BlockQ;
        long items = a.S.Problems * nQB;
        int parts = (int)Math.Min(items, MaxAttentionParts);
        var job = new FwdJob<TV, L>(a, nQB, items, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    static int ForwardScratch(in AttentionShape s, int W) =>
        BlockQ * s.D + s.D * BlockK + BlockK * RoundUp(s.Dv, W) + BlockQ * BlockK + BlockQ * RoundUp(s.Dv, W) + 2 * BlockQ;

    readonly struct FwdJob<TV, L>(Operands a, int nQB, long items, int parts) : IParallelJob where TV : unmanaged where L : ILanes<TV>
    {
        public void Execute(int part)
        {
            long lo = items * part / parts, hi = items * (part + 1) / parts;
            var scratch = ArrayPool<float>.Shared.Rent(ForwardScratch(a.S, L.Count));
            try
            {
                fixed (float* w = scratch)
                    for (long it = lo; it < hi; it++) ForwardBlock<TV, L>(a, (int)(it / nQB), (int)(it % nQB), w);
            }
            finally { ArrayPool<float>.Shared.Return(scratch); }
        }
    }

    static void ForwardBlock<TV, L>(in Operands a, int bh, int qb, float* w) where TV : unmanaged where L : ILanes<TV>
    {
        var s = a.S;
        int W = L.Count, D = s.D, Dv = s.Dv, dvp = RoundUp(Dv, W);
        int i0 = qb * BlockQ, br = Math.Min(BlockQ, s.Tq - i0);
        float* Qs = w, Kt = Qs + BlockQ * D, Vp = Kt + D * BlockK, S = Vp + BlockK * dvp, O = S + BlockQ * BlockK,
            m = O + BlockQ * dvp, l = m + BlockQ;

        // 1. Q block, pre-scaled so that S = Qs·Kᵀ directly.
        PackRows(a.QAt(bh) + i0 * a.Ql.StrideT, a.Ql.StrideT, br, D, Qs, D, s.Scale);
        new Span<float>(O, br * dvp).Clear();
        new Span<float>(m, br).Fill(float.NegativeInfinity);
        new Span<float>(l, br).Clear();

        // 2. Keys j ≤ i only when causal: the last row of this block sees keys below i0 + br.
        int kEnd = s.Causal ? Math.Min(s.Tk, i0 + br) : s.Tk;
        float* kb = a.KAt(bh), vb = a.VAt(bh);
        for (int j0 = 0; j0 < kEnd; j0 += BlockK)
        {
            int bc = Math.Min(BlockK, kEnd - j0), bcp = RoundUp(bc, W);
            PackTransposed(kb + j0 * a.Kl.StrideT, a.Kl.StrideT, bc, D, Kt, bcp);
            PackRows(vb + j0 * a.Vl.StrideT, a.Vl.StrideT, bc, Dv, Vp, dvp, 1f);
            Mm<TV, L>(br, bcp, D, Qs, D, 1, Kt, bcp, S, bcp, accumulate: false);
            MaskScores(S, bcp, br, bc, i0, j0, s.Causal, float.NegativeInfinity);
            for (int r = 0; r < br; r++) OnlineSoftmaxRow<TV, L>(S + r * bcp, bcp, O + r * dvp, dvp, ref m[r], ref l[r]);
            Mm<TV, L>(br, dvp, bc, S, bcp, 1, Vp, dvp, O, dvp, accumulate: true);
        }

        // 3. Normalise. l = 0 (a row that saw no key) gives 0·∞ = NaN, as the composed softmax does.
        float* o = a.OAt(bh) + (long)i0 * Dv, lse = a.LseAt(bh) + i0;
        for (int r = 0; r < br; r++)
        {
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(O + r * dvp, Dv), 1f / l[r], new Span<float>(o + r * Dv, Dv));
            lse[r] = m[r] + MathF.Log(l[r]);
        }
    }

    /// <summary>Turns one score row into exp(S − m') in place, folding it into the running max m and sum l
    /// and rescaling the row's output accumulator by e^(m − m').</summary>
    static void OnlineSoftmaxRow<TV, L>(float* srow, int bcp, float* orow, int dvp, ref float m, ref float l)
        where TV : unmanaged where L : ILanes<TV>
    {
        int W = L.Count;
        TV mx = L.Splat(float.NegativeInfinity);
        for (int j = 0; j < bcp; j += W) mx = L.Max(mx, L.Load(srow + j));
        float mNew = MathF.Max(m, L.MaxAcross(mx));
        if (mNew == float.NegativeInfinity)
        {
            // Nothing visible yet in this row: P = 0 (exp(−∞ − (−∞)) would be NaN).
            new Span<float>(srow, bcp).Clear();
            return;
        }
        TV mv = L.Splat(mNew), sum = L.Zero;
        for (int j = 0; j < bcp; j += W)
        {
            TV p = L.Exp(L.Sub(L.Load(srow + j), mv));
            L.Store(srow + j, p);
            sum = L.Add(sum, p);
        }
        float alpha = MathF.Exp(m - mNew);     // m = −∞ on the first block: alpha = 0, and O_acc is still 0
        l = l * alpha + L.SumAcross(sum);
        m = mNew;
        if (alpha != 1f)
        {
            TV av = L.Splat(alpha);
            for (int c = 0; c < dvp; c += W) L.Store(orow + c, L.Mul(L.Load(orow + c), av));
        }
    }

    /// <summary>Sets S[r, j] = fill for the padding columns j ≥ bc and, when causal, for keys j0 + j &gt; i0 + r.</summary>
    static void MaskScores(float* S, int bcp, int br, int bc, int i0, int j0, bool causal, float fill)
    {
        for (int r = 0; r < br; r++)
        {
            int valid = causal ? Math.Clamp(i0 + r - j0 + 1, 0, bc) : bc;
            for (int j = valid; j < bcp; j++) S[r * bcp + j] = fill;
        }
    }

    // ───────────────────── backward ─────────────────────

    static void V1Backward<TV, L>(in Operands a, in Gradients g) where TV : unmanaged where L : ILanes<TV>
    {
        int parts = (int)Math.Min(a.S.Problems, MaxAttentionParts);
        var job = new BwdJob<TV, L>(a, g, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    static int BackwardScratch(in AttentionShape s, int W)
    {
        int dp = RoundUp(s.D, W), dvp = RoundUp(s.Dv, W);
        return s.Tq + s.Tq * dp + s.D * BlockK + BlockK * dp + s.Dv * BlockK + BlockK * dp + BlockK * dvp
            + BlockQ * dp + BlockQ * dvp + 2 * BlockQ * BlockK;
    }

    readonly struct BwdJob<TV, L>(Operands a, Gradients g, int parts) : IParallelJob where TV : unmanaged where L : ILanes<TV>
    {
        public void Execute(int part)
        {
            long n = a.S.Problems, lo = n * part / parts, hi = n * (part + 1) / parts;
            var scratch = ArrayPool<float>.Shared.Rent(BackwardScratch(a.S, L.Count));
            try
            {
                fixed (float* w = scratch)
                    for (long bh = lo; bh < hi; bh++) BackwardProblem<TV, L>(a, g, (int)bh, w);
            }
            finally { ArrayPool<float>.Shared.Return(scratch); }
        }
    }

    static void BackwardProblem<TV, L>(in Operands a, in Gradients g, int bh, float* w) where TV : unmanaged where L : ILanes<TV>
    {
        var s = a.S;
        int W = L.Count, D = s.D, Dv = s.Dv, Tq = s.Tq, Tk = s.Tk, dp = RoundUp(D, W), dvp = RoundUp(Dv, W);
        float* Drow = w, dQa = Drow + Tq, Kt = dQa + Tq * dp, Kp = Kt + D * BlockK, Vt = Kp + BlockK * dp,
            dKa = Vt + Dv * BlockK, dVa = dKa + BlockK * dp, Qs = dVa + BlockK * dvp, dOp = Qs + BlockQ * dp,
            P = dOp + BlockQ * dvp, dS = P + BlockQ * BlockK;
        float* q = a.QAt(bh), k = a.KAt(bh), v = a.VAt(bh), o = a.OAt(bh), lse = a.LseAt(bh), dO = g.DOAt(bh, s.H);
        long qs = a.Ql.StrideT, ks = a.Kl.StrideT, vs = a.Vl.StrideT, gs = g.DOl.StrideT;

        // D_i = Σ_c dO_ic·O_ic: the rowsum(P∘dP) of the softmax backward without P.
        for (int i = 0; i < Tq; i++)
            Drow[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(dO + i * gs, Dv), new ReadOnlySpan<float>(o + (long)i * Dv, Dv));
        new Span<float>(dQa, Tq * dp).Clear();

        for (int j0 = 0; j0 < Tk; j0 += BlockK)
        {
            int bc = Math.Min(BlockK, Tk - j0), bcp = RoundUp(bc, W);
            PackTransposed(k + j0 * ks, ks, bc, D, Kt, bcp);
            PackRows(k + j0 * ks, ks, bc, D, Kp, dp, 1f);
            PackTransposed(v + j0 * vs, vs, bc, Dv, Vt, bcp);
            new Span<float>(dKa, bc * dp).Clear();
            new Span<float>(dVa, bc * dvp).Clear();
            // Causal: query blocks wholly before key j0 see none of this block.
            int iStart = s.Causal ? j0 / BlockQ * BlockQ : 0;
            for (int i0 = iStart; i0 < Tq; i0 += BlockQ)
            {
                int br = Math.Min(BlockQ, Tq - i0);
                PackRows(q + i0 * qs, qs, br, D, Qs, dp, s.Scale);
                PackRows(dO + i0 * gs, gs, br, Dv, dOp, dvp, 1f);
                // P = exp(S − lse), with masked and padding columns exactly 0.
                Mm<TV, L>(br, bcp, D, Qs, dp, 1, Kt, bcp, P, bcp, accumulate: false);
                for (int r = 0; r < br; r++)
                {
                    float* prow = P + r * bcp;
                    TV lv = L.Splat(lse[i0 + r]);
                    for (int j = 0; j < bcp; j += W) L.Store(prow + j, L.Exp(L.Sub(L.Load(prow + j), lv)));
                }
                MaskScores(P, bcp, br, bc, i0, j0, s.Causal, 0f);
                Mm<TV, L>(bc, dvp, br, P, 1, bcp, dOp, dvp, dVa, dvp, accumulate: true);        // dV += Pᵀ·dO
                Mm<TV, L>(br, bcp, Dv, dOp, dvp, 1, Vt, bcp, dS, bcp, accumulate: false);        // dP = dO·Vᵀ
                for (int r = 0; r < br; r++)                                                     // dS = P∘(dP − D)
                {
                    float* prow = P + r * bcp, srow = dS + r * bcp;
                    TV di = L.Splat(Drow[i0 + r]);
                    for (int j = 0; j < bcp; j += W) L.Store(srow + j, L.Mul(L.Load(prow + j), L.Sub(L.Load(srow + j), di)));
                }
                Mm<TV, L>(br, dp, bc, dS, bcp, 1, Kp, dp, dQa + i0 * dp, dp, accumulate: true);  // dQ += dS·K
                Mm<TV, L>(bc, dp, br, dS, 1, bcp, Qs, dp, dKa, dp, accumulate: true);            // dK += dSᵀ·(Q·scale)
            }
            float* dk = g.DK + ((long)bh * Tk + j0) * D, dv = g.DV + ((long)bh * Tk + j0) * Dv;
            for (int j = 0; j < bc; j++)
            {
                new ReadOnlySpan<float>(dKa + j * dp, D).CopyTo(new Span<float>(dk + j * D, D));
                new ReadOnlySpan<float>(dVa + j * dvp, Dv).CopyTo(new Span<float>(dv + j * Dv, Dv));
            }
        }
        float* dq = g.DQ + (long)bh * Tq * D;
        for (int i = 0; i < Tq; i++)
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(dQa + (long)i * dp, D), s.Scale, new Span<float>(dq + (long)i * D, D));
    }

    // ───────────────────── packing and the micro-GEMM ─────────────────────

    /// <summary>dst (rows × ldd) = scale·src rows (each <paramref name="cols"/> wide, <paramref name="stride"/> apart), zero-padded to ldd.</summary>
    static void PackRows(float* src, long stride, int rows, int cols, float* dst, int ldd, float scale)
    {
        for (int r = 0; r < rows; r++)
        {
            float* s = src + r * stride, d = dst + r * ldd;
            if (scale == 1f) new ReadOnlySpan<float>(s, cols).CopyTo(new Span<float>(d, cols));
            else TensorPrimitives.Multiply(new ReadOnlySpan<float>(s, cols), scale, new Span<float>(d, cols));
            for (int c = cols; c < ldd; c++) d[c] = 0f;
        }
    }

    /// <summary>dst (cols × ldd) = transpose of src (rows × cols, rows <paramref name="stride"/> apart), zero-padded to ldd columns.</summary>
    static void PackTransposed(float* src, long stride, int rows, int cols, float* dst, int ldd)
    {
        for (int r = 0; r < rows; r++)
        {
            float* s = src + r * stride;
            for (int c = 0; c < cols; c++) dst[c * ldd + r] = s[c];
        }
        for (int c = 0; c < cols; c++)
            for (int r = rows; r < ldd; r++) dst[c * ldd + r] = 0f;
    }

    /// <summary>
    /// C (m × n) = [C +] A·B where A's element (i, p) is A[i·ars + p·aps] (so Aᵀ is ars = 1, aps = lda),
    /// B is k × n with rows ldb apart, and n is a whole number of lanes. Register tiles of 16
    /// accumulators (4 rows × 4 vectors when n allows, else 8 rows × 2 vectors: d = 32 on Vector512)
    /// cover the FMA latency with one broadcast or load per FMA or less; other widths fall back to
    /// 4 × 2 and 4 × 1 tiles. A row tail re-reads the last row and drops the extra results rather
    /// than needing its own kernel.
    /// </summary>
    static void Mm<TV, L>(int m, int n, int k, float* A, int ars, int aps, float* B, int ldb, float* C, int ldc, bool accumulate)
        where TV : unmanaged where L : ILanes<TV>
    {
        int W = L.Count;
        if (n % (4 * W) == 0)
        {
            for (int i = 0; i < m; i += 4)
            {
                int mr = Math.Min(4, m - i);
                var (a, c) = RowPointers4(A, ars, C, ldc, i, mr);
                for (int j = 0; j < n; j += 4 * W) Tile4x4<TV, L>(k, a, aps, B + j, ldb, c, j, mr, accumulate);
            }
            return;
        }
        if (n == 2 * W)
        {
            for (int i = 0; i < m; i += 8)
            {
                int mr = Math.Min(8, m - i);
                Tile8x2<TV, L>(k, A, ars, aps, i, mr, B, ldb, C + (long)i * ldc, ldc, accumulate);
            }
            return;
        }
        for (int i = 0; i < m; i += 4)
        {
            int mr = Math.Min(4, m - i);
            var (a, c) = RowPointers4(A, ars, C, ldc, i, mr);
            int j = 0;
            for (; j + 2 * W <= n; j += 2 * W)
                Tile4x2<TV, L>(k, a.A0, a.A1, a.A2, a.A3, aps, B + j, ldb, c.A0 + j, c.A1 + j, c.A2 + j, c.A3 + j, mr, accumulate);
            if (j < n)
                Tile4x1<TV, L>(k, a.A0, a.A1, a.A2, a.A3, aps, B + j, ldb, c.A0 + j, c.A1 + j, c.A2 + j, c.A3 + j, mr, accumulate);
        }
    }

    readonly struct Rows4(float* a0, float* a1, float* a2, float* a3)
    {
        public readonly float* A0 = a0, A1 = a1, A2 = a2, A3 = a3;
    }

    /// <summary>Rows i..i+3 of A and C, the rows past the tail clamped to the last real one.</summary>
    static (Rows4 A, Rows4 C) RowPointers4(float* A, int ars, float* C, int ldc, int i, int mr)
    {
        int i1 = i + Math.Min(1, mr - 1), i2 = i + Math.Min(2, mr - 1), i3 = i + Math.Min(3, mr - 1);
        return (new Rows4(A + (long)i * ars, A + (long)i1 * ars, A + (long)i2 * ars, A + (long)i3 * ars),
                new Rows4(C + (long)i * ldc, C + (long)i1 * ldc, C + (long)i2 * ldc, C + (long)i3 * ldc));
    }

    static void Tile4x4<TV, L>(int k, Rows4 a, int aps, float* b, int ldb, Rows4 c, int j, int mr, bool accumulate)
        where TV : unmanaged where L : ILanes<TV>
    {
        int W = L.Count;
        float* c0 = c.A0 + j, c1 = c.A1 + j, c2 = c.A2 + j, c3 = c.A3 + j;
        float* a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3;
        TV x00 = L.Zero, x01 = L.Zero, x02 = L.Zero, x03 = L.Zero, x10 = L.Zero, x11 = L.Zero, x12 = L.Zero, x13 = L.Zero;
        TV x20 = L.Zero, x21 = L.Zero, x22 = L.Zero, x23 = L.Zero, x30 = L.Zero, x31 = L.Zero, x32 = L.Zero, x33 = L.Zero;
        if (accumulate)
        {
            x00 = L.Load(c0); x01 = L.Load(c0 + W); x02 = L.Load(c0 + 2 * W); x03 = L.Load(c0 + 3 * W);
            x10 = L.Load(c1); x11 = L.Load(c1 + W); x12 = L.Load(c1 + 2 * W); x13 = L.Load(c1 + 3 * W);
            x20 = L.Load(c2); x21 = L.Load(c2 + W); x22 = L.Load(c2 + 2 * W); x23 = L.Load(c2 + 3 * W);
            x30 = L.Load(c3); x31 = L.Load(c3 + W); x32 = L.Load(c3 + 2 * W); x33 = L.Load(c3 + 3 * W);
        }
        for (int p = 0; p < k; p++)
        {
            TV b0 = L.Load(b), b1 = L.Load(b + W), b2 = L.Load(b + 2 * W), b3 = L.Load(b + 3 * W);
            b += ldb;
            TV s = L.Splat(*a0); x00 = L.Fma(s, b0, x00); x01 = L.Fma(s, b1, x01); x02 = L.Fma(s, b2, x02); x03 = L.Fma(s, b3, x03);
            s = L.Splat(*a1); x10 = L.Fma(s, b0, x10); x11 = L.Fma(s, b1, x11); x12 = L.Fma(s, b2, x12); x13 = L.Fma(s, b3, x13);
            s = L.Splat(*a2); x20 = L.Fma(s, b0, x20); x21 = L.Fma(s, b1, x21); x22 = L.Fma(s, b2, x22); x23 = L.Fma(s, b3, x23);
            s = L.Splat(*a3); x30 = L.Fma(s, b0, x30); x31 = L.Fma(s, b1, x31); x32 = L.Fma(s, b2, x32); x33 = L.Fma(s, b3, x33);
            a0 += aps; a1 += aps; a2 += aps; a3 += aps;
        }
        L.Store(c0, x00); L.Store(c0 + W, x01); L.Store(c0 + 2 * W, x02); L.Store(c0 + 3 * W, x03);
        if (mr > 1) { L.Store(c1, x10); L.Store(c1 + W, x11); L.Store(c1 + 2 * W, x12); L.Store(c1 + 3 * W, x13); }
        if (mr > 2) { L.Store(c2, x20); L.Store(c2 + W, x21); L.Store(c2 + 2 * W, x22); L.Store(c2 + 3 * W, x23); }
        if (mr > 3) { L.Store(c3, x30); L.Store(c3 + W, x31); L.Store(c3 + 2 * W, x32); L.Store(c3 + 3 * W, x33); }
    }

    /// <summary>Rows i..i+mr−1 (mr ≤ 8) of C (2 vectors wide, starting at c) [+]= A·B.</summary>
    static void Tile8x2<TV, L>(int k, float* A, int ars, int aps, int i, int mr, float* b, int ldb, float* c, int ldc, bool accumulate)
        where TV : unmanaged where L : ILanes<TV>
    {
        int W = L.Count;
        // Row r of the tile reads A row i + min(r, mr − 1): the tail repeats the last real row.
        float* a0 = A + (long)i * ars, a1 = A + (long)(i + Math.Min(1, mr - 1)) * ars, a2 = A + (long)(i + Math.Min(2, mr - 1)) * ars,
            a3 = A + (long)(i + Math.Min(3, mr - 1)) * ars, a4 = A + (long)(i + Math.Min(4, mr - 1)) * ars,
            a5 = A + (long)(i + Math.Min(5, mr - 1)) * ars, a6 = A + (long)(i + Math.Min(6, mr - 1)) * ars,
            a7 = A + (long)(i + Math.Min(7, mr - 1)) * ars;
        TV x00 = L.Zero, x01 = L.Zero, x10 = L.Zero, x11 = L.Zero, x20 = L.Zero, x21 = L.Zero, x30 = L.Zero, x31 = L.Zero;
        TV x40 = L.Zero, x41 = L.Zero, x50 = L.Zero, x51 = L.Zero, x60 = L.Zero, x61 = L.Zero, x70 = L.Zero, x71 = L.Zero;
        if (accumulate)
        {
            // Rows past mr read row mr − 1 of C (in range) and are never stored.
            float* r0 = c, r1 = c + Math.Min(1, mr - 1) * ldc, r2 = c + Math.Min(2, mr - 1) * ldc, r3 = c + Math.Min(3, mr - 1) * ldc,
                r4 = c + Math.Min(4, mr - 1) * ldc, r5 = c + Math.Min(5, mr - 1) * ldc, r6 = c + Math.Min(6, mr - 1) * ldc,
                r7 = c + Math.Min(7, mr - 1) * ldc;
            x00 = L.Load(r0); x01 = L.Load(r0 + W); x10 = L.Load(r1); x11 = L.Load(r1 + W);
            x20 = L.Load(r2); x21 = L.Load(r2 + W); x30 = L.Load(r3); x31 = L.Load(r3 + W);
            x40 = L.Load(r4); x41 = L.Load(r4 + W); x50 = L.Load(r5); x51 = L.Load(r5 + W);
            x60 = L.Load(r6); x61 = L.Load(r6 + W); x70 = L.Load(r7); x71 = L.Load(r7 + W);
        }
        for (int p = 0; p < k; p++)
        {
            TV b0 = L.Load(b), b1 = L.Load(b + W);
            b += ldb;
            TV s = L.Splat(*a0); x00 = L.Fma(s, b0, x00); x01 = L.Fma(s, b1, x01);
            s = L.Splat(*a1); x10 = L.Fma(s, b0, x10); x11 = L.Fma(s, b1, x11);
            s = L.Splat(*a2); x20 = L.Fma(s, b0, x20); x21 = L.Fma(s, b1, x21);
            s = L.Splat(*a3); x30 = L.Fma(s, b0, x30); x31 = L.Fma(s, b1, x31);
            s = L.Splat(*a4); x40 = L.Fma(s, b0, x40); x41 = L.Fma(s, b1, x41);
            s = L.Splat(*a5); x50 = L.Fma(s, b0, x50); x51 = L.Fma(s, b1, x51);
            s = L.Splat(*a6); x60 = L.Fma(s, b0, x60); x61 = L.Fma(s, b1, x61);
            s = L.Splat(*a7); x70 = L.Fma(s, b0, x70); x71 = L.Fma(s, b1, x71);
            a0 += aps; a1 += aps; a2 += aps; a3 += aps; a4 += aps; a5 += aps; a6 += aps; a7 += aps;
        }
        L.Store(c, x00); L.Store(c + W, x01);
        if (mr > 1) { L.Store(c + ldc, x10); L.Store(c + ldc + W, x11); }
        if (mr > 2) { L.Store(c + 2 * ldc, x20); L.Store(c + 2 * ldc + W, x21); }
        if (mr > 3) { L.Store(c + 3 * ldc, x30); L.Store(c + 3 * ldc + W, x31); }
        if (mr > 4) { L.Store(c + 4 * ldc, x40); L.Store(c + 4 * ldc + W, x41); }
        if (mr > 5) { L.Store(c + 5 * ldc, x50); L.Store(c + 5 * ldc + W, x51); }
        if (mr > 6) { L.Store(c + 6 * ldc, x60); L.Store(c + 6 * ldc + W, x61); }
        if (mr > 7) { L.Store(c + 7 * ldc, x70); L.Store(c + 7 * ldc + W, x71); }
    }

    static void Tile4x2<TV, L>(int k, float* a0, float* a1, float* a2, float* a3, int aps, float* b, int ldb,
        float* c0, float* c1, float* c2, float* c3, int mr, bool accumulate) where TV : unmanaged where L : ILanes<TV>
    {
        int W = L.Count;
        TV x00 = L.Zero, x01 = L.Zero, x10 = L.Zero, x11 = L.Zero, x20 = L.Zero, x21 = L.Zero, x30 = L.Zero, x31 = L.Zero;
        if (accumulate)
        {
            x00 = L.Load(c0); x01 = L.Load(c0 + W); x10 = L.Load(c1); x11 = L.Load(c1 + W);
            x20 = L.Load(c2); x21 = L.Load(c2 + W); x30 = L.Load(c3); x31 = L.Load(c3 + W);
        }
        for (int p = 0; p < k; p++)
        {
            TV b0 = L.Load(b), b1 = L.Load(b + W);
            b += ldb;
            TV s = L.Splat(*a0); x00 = L.Fma(s, b0, x00); x01 = L.Fma(s, b1, x01);
            s = L.Splat(*a1); x10 = L.Fma(s, b0, x10); x11 = L.Fma(s, b1, x11);
            s = L.Splat(*a2); x20 = L.Fma(s, b0, x20); x21 = L.Fma(s, b1, x21);
            s = L.Splat(*a3); x30 = L.Fma(s, b0, x30); x31 = L.Fma(s, b1, x31);
            a0 += aps; a1 += aps; a2 += aps; a3 += aps;
        }
        L.Store(c0, x00); L.Store(c0 + W, x01);
        if (mr > 1) { L.Store(c1, x10); L.Store(c1 + W, x11); }
        if (mr > 2) { L.Store(c2, x20); L.Store(c2 + W, x21); }
        if (mr > 3) { L.Store(c3, x30); L.Store(c3 + W, x31); }
    }

    static void Tile4x1<TV, L>(int k, float* a0, float* a1, float* a2, float* a3, int aps, float* b, int ldb,
        float* c0, float* c1, float* c2, float* c3, int mr, bool accumulate) where TV : unmanaged where L : ILanes<TV>
    {
        TV x0 = L.Zero, x1 = L.Zero, x2 = L.Zero, x3 = L.Zero;
        if (accumulate) { x0 = L.Load(c0); x1 = L.Load(c1); x2 = L.Load(c2); x3 = L.Load(c3); }
        for (int p = 0; p < k; p++)
        {
            TV b0 = L.Load(b);
            b += ldb;
            x0 = L.Fma(L.Splat(*a0), b0, x0); x1 = L.Fma(L.Splat(*a1), b0, x1);
            x2 = L.Fma(L.Splat(*a2), b0, x2); x3 = L.Fma(L.Splat(*a3), b0, x3);
            a0 += aps; a1 += aps; a2 += aps; a3 += aps;
        }
        L.Store(c0, x0);
        if (mr > 1) L.Store(c1, x1);
        if (mr > 2) L.Store(c2, x2);
        if (mr > 3) L.Store(c3, x3);
    }
}
