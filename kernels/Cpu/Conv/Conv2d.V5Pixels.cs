// Conv2d.V5Pixels.cs — V4 with the implicit GEMM's columns turned into a list of valid output pixels.
//
// Why: V3/V4 read the lowered grid with contiguous 16-column loads, so every grid column is computed,
// valid or not: 64 columns per 49 outputs on a 7 × 7 map (3 × 3 pad 1), 225 per 196 at 14 × 14,
// 841 per 784 at 28 × 28. And V3's weight-grad (4 × 6 dot-product tiles over the grid) pays 24
// horizontal sums per tile and image batch, which is most of its loss on the 7 × 7 maps (short
// batches, long K). V5 swaps the roles of the register tile's two dimensions:
//   Forward / InputGrad  a 64-filter × 6-pixel tile (24 zmm): per tap k, 4 loads of the packed
//                        weights (k, 64 filters) and 6 broadcasts L[off[k] + Q_j] at six arbitrary
//                        grid columns Q_j, so the tile visits valid pixels only (no padding waste).
//                        The tile is pixel-major; 8 tiles (48 pixels) are transposed with 16 × 16
//                        register transposes and stored by runs of contiguous output (bias fused).
//   WeightGrad           dWᵀ (taps × filters) = Σ_j colᵀ[j] ⊗ Gᵀ[j] over valid pixels j: a 64-filter ×
//                        6-tap outer-product tile (4 loads of gyᵀ, 6 broadcasts of L) accumulated over
//                        all pixels of a part: no horizontal sums, no padding columns. gy is
//                        transposed per image batch (O(Cout·P) against O(Cout·K·P) multiply-adds).
//                        Where 64-filter tiles would pad half of them (Cout = 32), a 32-filter × 8-tap tile.
// GEMM rows below 4 keep V4's thin 1 × 128 tile; weight-grad tiles pad filters to 32 or 64 with zeros.
// Partition: image ranges of near-equal size, their count a multiple of 4 (V3's fixed-size batches
// left 11 parts of 6 images at 14 × 14: 6 against 5 parts on 2 threads). A function of the problem.
// Bits: forward and input-grad outputs are one dot product each in k order (independent of the
// partition); weight-grad sums pixels in order within a part and parts in order, so 1 and 2 threads
// give the same bits (tests/Kernels/Conv2dTests.cs).
// Conv2d.BestForward/BestInputGrad/BestWeightGrad (Conv2d.cs) pick V5 per shape and map where it measured
// faster than V4. Single-thread GFLOP/s, V4 → V5 (bench/results/cpu-2026-11-23-conv2.md): 7 × 7 128 → 128
// forward / input / weight 147 / 147 / 101 → 177 / 173 / 139; 14 × 14 192 → 64 weight 101 → 156.
// Tried and dropped: the stem's dx as a 1 × 1 conv Cout → 9 plus a shifted tap sum (slower than V4's thin
// tile: the pass over gy, not the FMAs, bounds it).
// Bench: dotnet run -c Release --project bench -- m1conv --threads 1 --cpu --versions V4Shaped,V5Pixels,Best
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    const int PxRows = 64;      // filters per pixel tile: 4 zmm of 16
    const int PxCols = 6;       // pixels (forward) or taps (weight-grad) per register tile; Offsets pads taps to whole tiles
    const int PxGroup = 48;     // pixels per transposed store: 8 register tiles, three 16-pixel vectors
    const int PxChunk = 96;     // weight-grad pixels per pass: 96 × 64 floats of gyᵀ (24 KiB) stay in L1

    static int V5TileRows(int M) => M <= ThinMaxRows ? 1 : PxRows;

    static void V5Forward(float* x, float* w, float* bias, float* y, in Conv2dProblem p)
        => V3Forward(x, w, bias, y, p, V5TileRows(p.CoutG));

    static void V5InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p)
        => V3InputGrad(gy, w, bias, dx, p, V5TileRows(p.CinG));

    /// <summary>Parts of a V5 job: near-equal image ranges of at most V3BatchImages images, the count rounded
    /// up to a multiple of 4 so 2 (or 4) threads get equal shares.</summary>
    static int V5Parts(int N, in Grid q)
    {
        int nbMax = V3BatchImages(N, q), parts = (N + nbMax - 1) / nbMax;
        return Math.Min(N, (parts + 3) / 4 * 4);
    }

    [ThreadStatic] static int[]? t_pixQ;
    [ThreadStatic] static long[]? t_pixDst;

    /// <summary>The valid output pixels of images 0 … nb−1 on grid q, in (image, row, column) order: grid column
    /// Q[j] and output offset dst[j] = i·outImage + oh·outRow + ow·outCol. Padded to a multiple of PxGroup by
    /// repeating the last Q. Returns the count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int Pixels(in Grid q, int nb, long outImage, int outRow, int outCol, out int* Q, out long* dst)
    {
        int n = nb * q.Hout * q.Wout, padded = (n + PxGroup - 1) / PxGroup * PxGroup;
        if (t_pixQ == null || t_pixQ.Length < padded)
        {
            t_pixQ = GC.AllocateUninitializedArray<int>(Math.Max(padded, PxGroup), pinned: true);
            t_pixDst = GC.AllocateUninitializedArray<long>(Math.Max(padded, PxGroup), pinned: true);
        }
        Q = (int*)Unsafe.AsPointer(ref t_pixQ[0]);
        dst = (long*)Unsafe.AsPointer(ref t_pixDst![0]);
        int j = 0;
        for (int i = 0; i < nb; i++)
            for (int oh = 0; oh < q.Hout; oh++)
                for (int ow = 0; ow < q.Wout; ow++, j++)
                {
                    Q[j] = i * q.Plane + oh * q.Wq + ow;
                    dst[j] = i * outImage + (long)oh * outRow + (long)ow * outCol;
                }
        for (; j < padded; j++) { Q[j] = Q[n - 1]; dst[j] = dst[n - 1]; }
        return n;
    }

    /// <summary>Runs of pixels whose outputs are colStride apart (one output row, or a whole image when rows are contiguous).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int PixelSegments(long* dst, int count, int colStride, Segment* segs)
    {
        int ns = 0;
        for (int j = 0; j < count;)
        {
            int len = 1;
            while (j + len < count && dst[j + len] == dst[j + len - 1] + colStride) len++;
            segs[ns++] = new Segment { Col = j, Len = len, Dst = dst[j] };
            j += len;
        }
        return ns;
    }

    [ThreadStatic] static float[]? t_pxTile;

    /// <summary>Two PxGroup × PxRows buffers: the pixel-major tiles and their transpose.</summary>
    static float* PixelTileBuffer()
    {
        t_pxTile ??= GC.AllocateUninitializedArray<float>(2 * PxGroup * PxRows + 16, pinned: true);
        float* b = (float*)Unsafe.AsPointer(ref t_pxTile[0]);
        return (float*)(((nint)b + 63) & ~(nint)63);
    }

    /// <summary>The implicit GEMM of a <see cref="Plan"/> with 64-row panels, over valid pixels only.</summary>
    readonly struct PixelJob(Plan plan, float* x, float* y, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var q = plan.Q;
            var (n0, count) = WorkerPool.Range(plan.N, parts, part);
            if (count == 0) return;
            float* L = LoweredWorkspace(q, q.LoweredLength(count));
            Lower(x, L, q, n0, count);
            int npx = Pixels(q, count, plan.OutImage, plan.OutRow, plan.OutCol, out int* Q, out long* dst);
            int K = plan.K, M = plan.M, panels = plan.Panels;
            float* T = PixelTileBuffer(), Yt = T + PxGroup * PxRows;
            var pf = plan.Prefetch ? NextPartPrefetch.ForImages(x, q, plan.N, NextPartRange(part, parts, plan.N),
                plan.Groups * panels * ((npx + PxGroup - 1) / PxGroup)) : default;
            Segment* segs = stackalloc Segment[PxGroup];
            float* yb = y + n0 * plan.OutImage + plan.OutOrigin;
            for (int g = 0; g < plan.Groups; g++)
            {
                int* off = Offsets(plan.TapPlane + g * K, plan.TapDelta + g * K, K, q, count);
                // Panels outside pixel groups: one weight panel (K × 64 floats, 295 KB at K = 1152) and the lowered
                // batch share L2, instead of every panel at once (1.2 MB of panels alone at K = 2304, Cout = 128).
                for (int pi = 0; pi < panels; pi++)
                {
                    float* a = plan.A + ((long)g * panels + pi) * PxRows * K;
                    for (int j0 = 0; j0 < npx; j0 += PxGroup)
                    {
                        int cnt = Math.Min(PxGroup, npx - j0), tiles = (cnt + PxCols - 1) / PxCols, blocks = (cnt + 15) / 16;
                        int ns = PixelSegments(dst + j0, cnt, plan.OutCol, segs);
                        // V7: the group's output lines, fetched while its tiles run (stored after them).
                        if (plan.DeferStore) PrefetchTileOutput(yb, plan, segs, ns, g * M + pi * PxRows, Math.Min(PxRows, M - pi * PxRows));
                        for (int t = 0; t < tiles; t++)
                            Px64x6(K, a, L, off, Q + j0 + t * PxCols, T + t * PxCols * PxRows);
                        pf.Step();
                        // T (pixel, filter) → Yt (filter, pixel); rows of T past the last tile are stale and never stored.
                        for (int pb = 0; pb < blocks; pb++)
                            for (int fb = 0; fb < PxRows / 16; fb++)
                                Transpose16.Run(T + pb * 16 * PxRows + fb * 16, PxRows, Yt + fb * 16 * PxGroup + pb * 16, PxGroup);
                        int ch = g * M + pi * PxRows, rows = Math.Min(PxRows, M - pi * PxRows);
                        for (int r = 0; r < rows; r++)
                            StoreSegments(Yt + r * PxGroup, yb + (ch + r) * plan.OutChannel, segs, ns,
                                plan.Bias == null ? 0f : plan.Bias[ch + r], plan.OutCol);
                    }
                }
            }
        }
    }

    /// <summary>c[j·64 + f] = Σ_k a[k·64 + f] · src[off[k] + Q[j]] for 6 pixels j and 64 filters f.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Px64x6(int K, float* a, float* src, int* off, int* Q, float* c)
    {
        nint q0 = Q[0], q1 = Q[1], q2 = Q[2], q3 = Q[3], q4 = Q[4], q5 = Q[5];
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int k = 0; k < K; k++, a += PxRows)
        {
            float* b = src + off[k];
            var w0 = Vector512.Load(a); var w1 = Vector512.Load(a + 16); var w2 = Vector512.Load(a + 32); var w3 = Vector512.Load(a + 48);
            var x = Vector512.Create(b[q0]);
            c00 = Vector512.FusedMultiplyAdd(w0, x, c00); c01 = Vector512.FusedMultiplyAdd(w1, x, c01); c02 = Vector512.FusedMultiplyAdd(w2, x, c02); c03 = Vector512.FusedMultiplyAdd(w3, x, c03);
            x = Vector512.Create(b[q1]);
            c10 = Vector512.FusedMultiplyAdd(w0, x, c10); c11 = Vector512.FusedMultiplyAdd(w1, x, c11); c12 = Vector512.FusedMultiplyAdd(w2, x, c12); c13 = Vector512.FusedMultiplyAdd(w3, x, c13);
            x = Vector512.Create(b[q2]);
            c20 = Vector512.FusedMultiplyAdd(w0, x, c20); c21 = Vector512.FusedMultiplyAdd(w1, x, c21); c22 = Vector512.FusedMultiplyAdd(w2, x, c22); c23 = Vector512.FusedMultiplyAdd(w3, x, c23);
            x = Vector512.Create(b[q3]);
            c30 = Vector512.FusedMultiplyAdd(w0, x, c30); c31 = Vector512.FusedMultiplyAdd(w1, x, c31); c32 = Vector512.FusedMultiplyAdd(w2, x, c32); c33 = Vector512.FusedMultiplyAdd(w3, x, c33);
            x = Vector512.Create(b[q4]);
            c40 = Vector512.FusedMultiplyAdd(w0, x, c40); c41 = Vector512.FusedMultiplyAdd(w1, x, c41); c42 = Vector512.FusedMultiplyAdd(w2, x, c42); c43 = Vector512.FusedMultiplyAdd(w3, x, c43);
            x = Vector512.Create(b[q5]);
            c50 = Vector512.FusedMultiplyAdd(w0, x, c50); c51 = Vector512.FusedMultiplyAdd(w1, x, c51); c52 = Vector512.FusedMultiplyAdd(w2, x, c52); c53 = Vector512.FusedMultiplyAdd(w3, x, c53);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32); c03.Store(c + 48);
        c10.Store(c + 64); c11.Store(c + 80); c12.Store(c + 96); c13.Store(c + 112);
        c20.Store(c + 128); c21.Store(c + 144); c22.Store(c + 160); c23.Store(c + 176);
        c30.Store(c + 192); c31.Store(c + 208); c32.Store(c + 224); c33.Store(c + 240);
        c40.Store(c + 256); c41.Store(c + 272); c42.Store(c + 288); c43.Store(c + 304);
        c50.Store(c + 320); c51.Store(c + 336); c52.Store(c + 352); c53.Store(c + 368);
    }

    // ───────────────────── weight gradient ─────────────────────

    [ThreadStatic] static float[]? t_gt;
    [ThreadStatic] static float[]? t_dwt;

    /// <summary>gyᵀ of images n0 … n0+nb−1 in pixel order, in blocks of ft filters: filter F = g·Fpad + f of pixel
    /// j = i·P + p at G[(F / ft)·NP·ft + j·ft + F mod ft] (NP = nb·P), so a tile's rows are contiguous. (With one
    /// row of all Cout filters per pixel, a 64-filter tile read 256 B every 512 B at Cout = 128: the tile's 24 KiB
    /// then used half of L1's sets.) Filters Fg … Fpad−1 of each group are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float* TransposeGrad(float* gy, in Conv2dProblem p, int n0, int nb, int Fpad, int ft)
    {
        int P = p.P, Fg = p.CoutG;
        long NP = (long)nb * P, need = NP * p.Groups * Fpad + 16;
        if (t_gt == null || t_gt.Length < need) t_gt = GC.AllocateUninitializedArray<float>((int)need, pinned: true);
        float* G = (float*)Unsafe.AsPointer(ref t_gt[0]);
        if (Fpad != Fg) new Span<float>(G, (int)need).Clear();
        int F16 = Fg & ~15, P16 = P & ~15;
        for (int i = 0; i < nb; i++)
            for (int g = 0; g < p.Groups; g++)
            {
                float* s = gy + ((long)(n0 + i) * p.Cout + g * Fg) * P;
                float* D(int f) => G + (long)((g * Fpad + f) / ft) * NP * ft + (long)i * P * ft + (g * Fpad + f) % ft;
                // 16 × 16 register transposes; a scalar loop for the filter and pixel tails (a strided scalar
                // copy of the whole gy cost 10–20% of a 32-channel 28 × 28 weight-grad).
                for (int f0 = 0; f0 < F16; f0 += 16)
                {
                    float* d = D(f0);
                    for (int p0 = 0; p0 < P16; p0 += 16)
                        Transpose16.Run(s + (long)f0 * P + p0, P, d + (long)p0 * ft, ft);
                }
                for (int f = 0; f < Fg; f++)
                {
                    float* d = D(f);
                    for (int pp = f < F16 ? P16 : 0; pp < P; pp++) d[(long)pp * ft] = s[(long)f * P + pp];
                }
            }
        return G;
    }

    /// <param name="dwtParts">V7: each part leaves its dWᵀ (the accumulator layout, <see cref="DwtLength"/> floats) at
    /// dwParts + part · DwtLength, and <see cref="SumPartsTransposed"/> adds and transposes them in one pass; else each
    /// part transposes its dWᵀ into its slice of dwParts (V5).</param>
    readonly struct PixelWeightGradJob(Conv2dProblem p, float* x, float* gy, float* dwParts, int parts, bool prefetch = false, bool dwtParts = false) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var q = Grid.Forward(p.Geo);
            var (n0, count) = WorkerPool.Range(p.N, parts, part);
            int K = p.KG, Fg = p.CoutG, ft = WeightGradTileFilters(Fg), kt = ft == PxRows ? PxCols : 8;
            int Kpad = (K + kt - 1) / kt * kt;
            int Fpad = (Fg + ft - 1) / ft * ft, nbMax = V3BatchImages(p.N, q);
            // dWᵀ of this part, (g, k, f) with row stride Fpad; taps K … Kpad−1 repeat the last one and are dropped.
            long dwtLen = DwtLength(p);
            float* dwt;
            if (dwtParts) dwt = dwParts + part * dwtLen;
            else
            {
                if (t_dwt == null || t_dwt.Length < dwtLen + 16) t_dwt = GC.AllocateUninitializedArray<float>((int)dwtLen + 16, pinned: true);
                dwt = (float*)(((nint)Unsafe.AsPointer(ref t_dwt[0]) + 63) & ~(nint)63);
            }
            // The part's first pixel chunk starts each tile from zero (no clear); with no pixels there is no first chunk.
            if (p.P == 0) new Span<float>(dwt, (int)dwtLen).Clear();
            int* plane = ForwardTaps(p, q, out int* delta);
            for (int b0 = n0; b0 < n0 + count; b0 += nbMax)
            {
                int nb = Math.Min(nbMax, n0 + count - b0);
                float* L = LoweredWorkspace(q, q.LoweredLength(nb));
                Lower(x, L, q, b0, nb);
                int npx = Pixels(q, nb, 0, 0, 0, out int* Q, out _);
                float* G = TransposeGrad(gy, p, b0, nb, Fpad, ft);
                // V7: the next batch of this part, or the first of the part this thread likely takes next.
                var next = b0 + nb < n0 + count ? (b0 + nb, Math.Min(nbMax, n0 + count - b0 - nb)) : NextPartRange(part, parts, p.N);
                int steps = p.Groups * ((npx + PxChunk - 1) / PxChunk);
                var pfx = prefetch ? NextPartPrefetch.ForImages(x, q, p.N, next, steps) : default;
                var pfg = prefetch ? NextPartPrefetch.ForImages(gy, new Grid(p.Cout, q.Hout, q.Wout, 1, 1, 0, 0, q.Hout, q.Wout, q.Hout, q.Wout), p.N, next, steps) : default;
                for (int g = 0; g < p.Groups; g++)
                {
                    int* off = Offsets(plane + g * K, delta + g * K, K, q, nb);
                    for (int j0 = 0; j0 < npx; j0 += PxChunk)
                    {
                        pfx.Step(); pfg.Step();
                        int cnt = Math.Min(PxChunk, npx - j0);
                        bool first = b0 == n0 && j0 == 0;
                        for (int f0 = 0; f0 < Fpad; f0 += ft)
                            for (int k0 = 0; k0 < Kpad; k0 += kt)
                            {
                                float* gt = G + ((long)(g * Fpad + f0) * npx + (long)j0 * ft), acc = dwt + ((long)g * Kpad + k0) * Fpad + f0;
                                if (ft == PxRows) Dw64x6(cnt, gt, ft, Q + j0, L, off + k0, acc, Fpad, first);
                                else Dw32x8(cnt, gt, ft, Q + j0, L, off + k0, acc, Fpad, first);
                            }
                    }
                }
            }
            if (dwtParts) return;
            // dWᵀ → dW by 16 × 16 register transposes (a strided scalar copy read one cache line per element).
            float* dw = dwParts + (long)part * p.WeightLength;
            int F16 = Fg & ~15, K16 = K & ~15;
            for (int g = 0; g < p.Groups; g++)
            {
                float* s = dwt + (long)g * Kpad * Fpad, d = dw + (long)g * Fg * K;
                for (int k0 = 0; k0 < K16; k0 += 16)
                    for (int f0 = 0; f0 < F16; f0 += 16)
                        Transpose16.Run(s + (long)k0 * Fpad + f0, Fpad, d + (long)f0 * K + k0, K);
                for (int f = 0; f < Fg; f++)
                    for (int k = f < F16 ? K16 : 0; k < K; k++) d[(long)f * K + k] = s[(long)k * Fpad + f];
            }
        }
    }

    /// <summary>acc[t·lda + f] += Σ_{j &lt; n} gt[j·ldg + f] · src[off[t] + Q[j]] for 6 taps t and 64 filters f
    /// (<paramref name="zero"/>: acc = the sum, its old contents unread).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dw64x6(int n, float* gt, int ldg, int* Q, float* src, int* off, float* acc, int lda, bool zero = false)
    {
        float* s0 = src + off[0], s1 = src + off[1], s2 = src + off[2], s3 = src + off[3], s4 = src + off[4], s5 = src + off[5];
        float* r0 = acc, r1 = acc + lda, r2 = acc + 2 * lda, r3 = acc + 3 * lda, r4 = acc + 4 * lda, r5 = acc + 5 * lda;
        Vector512<float> a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33, a40, a41, a42, a43, a50, a51, a52, a53;
        if (zero)
        {
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = Vector512<float>.Zero;
            a30 = a31 = a32 = a33 = a40 = a41 = a42 = a43 = a50 = a51 = a52 = a53 = Vector512<float>.Zero;
        }
        else
        {
            a00 = Vector512.Load(r0); a01 = Vector512.Load(r0 + 16); a02 = Vector512.Load(r0 + 32); a03 = Vector512.Load(r0 + 48);
            a10 = Vector512.Load(r1); a11 = Vector512.Load(r1 + 16); a12 = Vector512.Load(r1 + 32); a13 = Vector512.Load(r1 + 48);
            a20 = Vector512.Load(r2); a21 = Vector512.Load(r2 + 16); a22 = Vector512.Load(r2 + 32); a23 = Vector512.Load(r2 + 48);
            a30 = Vector512.Load(r3); a31 = Vector512.Load(r3 + 16); a32 = Vector512.Load(r3 + 32); a33 = Vector512.Load(r3 + 48);
            a40 = Vector512.Load(r4); a41 = Vector512.Load(r4 + 16); a42 = Vector512.Load(r4 + 32); a43 = Vector512.Load(r4 + 48);
            a50 = Vector512.Load(r5); a51 = Vector512.Load(r5 + 16); a52 = Vector512.Load(r5 + 32); a53 = Vector512.Load(r5 + 48);
        }
        for (int j = 0; j < n; j++, gt += ldg)
        {
            nint qj = Q[j];
            var g0 = Vector512.Load(gt); var g1 = Vector512.Load(gt + 16); var g2 = Vector512.Load(gt + 32); var g3 = Vector512.Load(gt + 48);
            var x = Vector512.Create(s0[qj]);
            a00 = Vector512.FusedMultiplyAdd(g0, x, a00); a01 = Vector512.FusedMultiplyAdd(g1, x, a01); a02 = Vector512.FusedMultiplyAdd(g2, x, a02); a03 = Vector512.FusedMultiplyAdd(g3, x, a03);
            x = Vector512.Create(s1[qj]);
            a10 = Vector512.FusedMultiplyAdd(g0, x, a10); a11 = Vector512.FusedMultiplyAdd(g1, x, a11); a12 = Vector512.FusedMultiplyAdd(g2, x, a12); a13 = Vector512.FusedMultiplyAdd(g3, x, a13);
            x = Vector512.Create(s2[qj]);
            a20 = Vector512.FusedMultiplyAdd(g0, x, a20); a21 = Vector512.FusedMultiplyAdd(g1, x, a21); a22 = Vector512.FusedMultiplyAdd(g2, x, a22); a23 = Vector512.FusedMultiplyAdd(g3, x, a23);
            x = Vector512.Create(s3[qj]);
            a30 = Vector512.FusedMultiplyAdd(g0, x, a30); a31 = Vector512.FusedMultiplyAdd(g1, x, a31); a32 = Vector512.FusedMultiplyAdd(g2, x, a32); a33 = Vector512.FusedMultiplyAdd(g3, x, a33);
            x = Vector512.Create(s4[qj]);
            a40 = Vector512.FusedMultiplyAdd(g0, x, a40); a41 = Vector512.FusedMultiplyAdd(g1, x, a41); a42 = Vector512.FusedMultiplyAdd(g2, x, a42); a43 = Vector512.FusedMultiplyAdd(g3, x, a43);
            x = Vector512.Create(s5[qj]);
            a50 = Vector512.FusedMultiplyAdd(g0, x, a50); a51 = Vector512.FusedMultiplyAdd(g1, x, a51); a52 = Vector512.FusedMultiplyAdd(g2, x, a52); a53 = Vector512.FusedMultiplyAdd(g3, x, a53);
        }
        a00.Store(r0); a01.Store(r0 + 16); a02.Store(r0 + 32); a03.Store(r0 + 48);
        a10.Store(r1); a11.Store(r1 + 16); a12.Store(r1 + 32); a13.Store(r1 + 48);
        a20.Store(r2); a21.Store(r2 + 16); a22.Store(r2 + 32); a23.Store(r2 + 48);
        a30.Store(r3); a31.Store(r3 + 16); a32.Store(r3 + 32); a33.Store(r3 + 48);
        a40.Store(r4); a41.Store(r4 + 16); a42.Store(r4 + 32); a43.Store(r4 + 48);
        a50.Store(r5); a51.Store(r5 + 16); a52.Store(r5 + 32); a53.Store(r5 + 48);
    }

    /// <summary>Filters per weight-grad tile: 64 (4 zmm × 6 taps), or 32 (2 zmm × 8 taps) where that pads less
    /// (Cout = 32 would waste half of a 64-filter tile).</summary>
    static int WeightGradTileFilters(int Fg) => (Fg + 63) / 64 * 64 == (Fg + 31) / 32 * 32 ? PxRows : 32;

    /// <summary>acc[t·lda + f] += Σ_{j &lt; n} gt[j·ldg + f] · src[off[t] + Q[j]] for 8 taps t and 32 filters f
    /// (16 zmm accumulators: still two per FMA pipe and cycle of latency).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dw32x8(int n, float* gt, int ldg, int* Q, float* src, int* off, float* acc, int lda, bool zero = false)
    {
        float* s0 = src + off[0], s1 = src + off[1], s2 = src + off[2], s3 = src + off[3];
        float* s4 = src + off[4], s5 = src + off[5], s6 = src + off[6], s7 = src + off[7];
        Vector512<float> a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;
        if (zero) a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = Vector512<float>.Zero;
        else
        {
            a00 = Vector512.Load(acc); a01 = Vector512.Load(acc + 16);
            a10 = Vector512.Load(acc + lda); a11 = Vector512.Load(acc + lda + 16);
            a20 = Vector512.Load(acc + 2 * lda); a21 = Vector512.Load(acc + 2 * lda + 16);
            a30 = Vector512.Load(acc + 3 * lda); a31 = Vector512.Load(acc + 3 * lda + 16);
            a40 = Vector512.Load(acc + 4 * lda); a41 = Vector512.Load(acc + 4 * lda + 16);
            a50 = Vector512.Load(acc + 5 * lda); a51 = Vector512.Load(acc + 5 * lda + 16);
            a60 = Vector512.Load(acc + 6 * lda); a61 = Vector512.Load(acc + 6 * lda + 16);
            a70 = Vector512.Load(acc + 7 * lda); a71 = Vector512.Load(acc + 7 * lda + 16);
        }
        for (int j = 0; j < n; j++, gt += ldg)
        {
            nint qj = Q[j];
            var g0 = Vector512.Load(gt); var g1 = Vector512.Load(gt + 16);
            var x = Vector512.Create(s0[qj]); a00 = Vector512.FusedMultiplyAdd(g0, x, a00); a01 = Vector512.FusedMultiplyAdd(g1, x, a01);
            x = Vector512.Create(s1[qj]); a10 = Vector512.FusedMultiplyAdd(g0, x, a10); a11 = Vector512.FusedMultiplyAdd(g1, x, a11);
            x = Vector512.Create(s2[qj]); a20 = Vector512.FusedMultiplyAdd(g0, x, a20); a21 = Vector512.FusedMultiplyAdd(g1, x, a21);
            x = Vector512.Create(s3[qj]); a30 = Vector512.FusedMultiplyAdd(g0, x, a30); a31 = Vector512.FusedMultiplyAdd(g1, x, a31);
            x = Vector512.Create(s4[qj]); a40 = Vector512.FusedMultiplyAdd(g0, x, a40); a41 = Vector512.FusedMultiplyAdd(g1, x, a41);
            x = Vector512.Create(s5[qj]); a50 = Vector512.FusedMultiplyAdd(g0, x, a50); a51 = Vector512.FusedMultiplyAdd(g1, x, a51);
            x = Vector512.Create(s6[qj]); a60 = Vector512.FusedMultiplyAdd(g0, x, a60); a61 = Vector512.FusedMultiplyAdd(g1, x, a61);
            x = Vector512.Create(s7[qj]); a70 = Vector512.FusedMultiplyAdd(g0, x, a70); a71 = Vector512.FusedMultiplyAdd(g1, x, a71);
        }
        a00.Store(acc); a01.Store(acc + 16);
        a10.Store(acc + lda); a11.Store(acc + lda + 16);
        a20.Store(acc + 2 * lda); a21.Store(acc + 2 * lda + 16);
        a30.Store(acc + 3 * lda); a31.Store(acc + 3 * lda + 16);
        a40.Store(acc + 4 * lda); a41.Store(acc + 4 * lda + 16);
        a50.Store(acc + 5 * lda); a51.Store(acc + 5 * lda + 16);
        a60.Store(acc + 6 * lda); a61.Store(acc + 6 * lda + 16);
        a70.Store(acc + 7 * lda); a71.Store(acc + 7 * lda + 16);
    }

    /// <summary>Parts of the V5 weight-grad job: V5Parts, at most 8. Each part clears, transposes and (on the
    /// caller) adds a whole partial dW — at 14 × 14 (64 → 64) 12 parts of ~5 images spent ~10% of the map there.</summary>
    static int V5WeightGradParts(in Conv2dProblem p) => Math.Min(8, V5Parts(p.N, Grid.Forward(p.Geo)));

    static void V5WeightGrad(float* x, float* gy, float* dwOrPartials, in Conv2dProblem p, int parts, bool prefetch = false, bool dwtParts = false)
    {
        var job = new PixelWeightGradJob(p, x, gy, dwOrPartials, parts, prefetch, dwtParts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    /// <summary>Floats of one part's dWᵀ accumulator: Groups × Kpad taps × Fpad filters (a multiple of 16, so parts
    /// laid end to end stay 64-byte aligned).</summary>
    static long DwtLength(in Conv2dProblem p)
    {
        int ft = WeightGradTileFilters(p.CoutG), kt = ft == PxRows ? PxCols : 8;
        long Kpad = (p.KG + kt - 1) / kt * kt, Fpad = (p.CoutG + ft - 1) / ft * ft;
        return p.Groups * Kpad * Fpad;
    }
}
