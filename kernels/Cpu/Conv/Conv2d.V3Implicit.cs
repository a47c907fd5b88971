// Conv2d.V3Implicit.cs — implicit-GEMM convolution: no im2col matrix, ever.
//
// Why: V2 writes the whole col matrix (K × nb·P, e.g. 288 × 768 floats for the K2 32-channel
// shape), the GEMM packs it again, and Y is gathered/scattered between the wide buffer and the
// NCHW output: three passes over data that is nine times the input, for a GEMM whose M = Cout is
// only 32. Here the input is copied once into a zero-padded, phase-split layout ("lowered"), in
// which every column of the virtual col matrix is a contiguous run at a fixed offset per tap:
//
//   lowered L[c, rh, rw, i, r, j] = xpad[n0 + i, c, r·SH + rh, j·SW + rw]   (r < Hq, j < Wq)
//   col[k = (c, ki, kj), Q] = L[Q + off[k]],   off[k] = plane(c, t_h mod SH, t_w mod SW) + (t_h div SH)·Wq + (t_w div SW)
//   with t_h = ki·DH, t_w = kj·DW and Q = i·Hq·Wq + oh·Wq + ow
//
// (the strided case is the polyphase decomposition: a stride-S convolution is a sum of stride-1
// convolutions over the S² phases of the input). Q runs over a padded grid: columns with
// ow ≥ Wout or oh ≥ Hout are computed and thrown away (13% at 28×28, 23% at 14×14 for 3×3 pad 1),
// which costs less than V2's copies. The three maps:
//   Forward     Y (Cout × Q) = W (Cout × K) · col        8×48 register tile, B rows read at L + off[k]
//               (no packing: a 48-column tile touches Cin·(48 + 2·Wq) floats, L1-sized), bias
//               added while the tile is copied (masked stores) from Q to NCHW.
//   InputGrad   stride 1: the transposed convolution is the forward convolution of gy with the
//               weight flipped in (kh, kw) and transposed in (Cout, Cin), padding (k−1)·d − p.
//               Strided (or padding > (k−1)·d): V2Batched.
//   WeightGrad  dW (Cout × K) = Gq (Cout × Q) · colᵀ, with gy lowered to the same Q grid with
//               zeros in the thrown-away columns: a 4×6 tile of (co, k) dot products over Q,
//               16 Q per Vector512, reduced horizontally per image batch.
// Parts are image batches (a function of the problem alone); forward and input-grad elements are
// each one dot product in k order (bits independent of the partition); weight-grad sums batch by
// batch inside a part and parts in order, so 1 and 2 threads give the same bits.
// Needs AVX-512 (Vector512); elsewhere every map runs V2Batched.
// K2 and M1 figures: see the version table in Conv2d.cs. Tests: tests/Kernels/Conv2dTests.cs.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    const int TileM = 8, TileN = 48;          // forward register tile: 8 filters × 48 columns (24 zmm)
    const int ThinN = 128;                    // V4's one-row tile for M < 4: 1 filter × 128 columns (8 zmm)
    // Zeros after the lowered input: the last tile of either shape reads up to a grid plane plus two tile widths past it.
    const int Slack = 2 * ThinN + 16;
    const int DotM = 4, DotK = 6;             // weight-grad tile: 4 filters × 6 taps (24 zmm)
    const int OffsetPad = 24;                 // tap tables are padded for whole tiles of 6 (V3, V5) and 8 taps (V5's 32-filter tile)
    // Lowered input per image batch: ~384 KiB, so it and the tile's working set stay in L2 (1 MiB).
    const int LoweredBudgetFloats = 96 * 1024;

    /// <summary>V3 covers this problem (else V2Batched runs).</summary>
    static bool V3Supported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>The padded, phase-split grid of one lowered input (see the file header): C channels of
    /// H × W, stride phases SH × SW, padding PH, PW before the image; Hout × Wout outputs per image on a
    /// grid of Hq × Wq (the extra rows and columns hold the taps' reach and are thrown away).</summary>
    readonly struct Grid
    {
        public readonly int SH, SW, Hq, Wq, Plane, Hout, Wout;
        public readonly int PH, PW, H, W, C;
        /// <summary>Zeros before the first plane: taps of a shared-padding grid read up to this far back.</summary>
        public readonly int Lead;

        public Grid(int c, int h, int w, int sh, int sw, int ph, int pw, int hout, int wout, int hq, int wq, int lead = 0)
        {
            C = c; H = h; W = w; SH = sh; SW = sw; PH = ph; PW = pw; Hout = hout; Wout = wout;
            Hq = hq; Wq = wq; Plane = Hq * Wq; Lead = lead;
        }

        /// <summary>The forward convolution's grid: tap (ki, kj) reaches (ki·DH div SH, kj·DW div SW) grid cells.
        /// Stride 1: <see cref="Stride1"/>.</summary>
        public static Grid Forward(in Conv2dGeometry g) => g.SH == 1 && g.SW == 1
            ? Stride1(g.C, g.H, g.W, g.Hout, g.Wout, g.PH, g.PW, (g.KH - 1) * g.DH, (g.KW - 1) * g.DW)
            : new Grid(g.C, g.H, g.W, g.SH, g.SW, g.PH, g.PW, g.Hout, g.Wout,
                g.Hout + (g.KH - 1) * g.DH / g.SH, g.Wout + (g.KW - 1) * g.DW / g.SW);

        /// <summary>
        /// A stride-1 grid for padding (ph, pw) and kernel reach (rh, rw) = (k − 1)·d. When 0 &lt; pad ≤ reach
        /// the padding is shared: each row stores W values then pw zeros, each image H rows then ph zero
        /// rows, so a tap that reaches left of column 0 (above row 0) reads the previous row's (image's)
        /// zeros. The grid is (H + ph) × (W + pw) instead of (Hout + rh) × (Wout + rw): 8 × 8 instead of
        /// 9 × 9 per 7 × 7 map at 3 × 3 pad 1 (77% of the columns are outputs instead of 60%).
        /// </summary>
        public static Grid Stride1(int c, int h, int w, int hout, int wout, int ph, int pw, int rh, int rw)
        {
            if (ph > 0 && pw > 0 && ph <= rh && pw <= rw)
                return new Grid(c, h, w, 1, 1, 0, 0, hout, wout, h + ph, w + pw, ph * (w + pw) + pw);
            // Taps read rows up to dh + ph = rh − ph + max(ph, 0) below an output row (further when ph < 0).
            int hq = hout + rh + Math.Max(-ph, 0), wq = wout + rw + Math.Max(-pw, 0);
            return new Grid(c, h, w, 1, 1, Math.Max(ph, 0), Math.Max(pw, 0), hout, wout, hq, wq);
        }

        /// <summary>Grid offset of a stride-1 tap that reads input (oh + dh, ow + dw) for output (oh, ow).</summary>
        public int Delta(int dh, int dw) => (dh + PH) * Wq + dw + PW;

        /// <summary>Columns of a batch of nb images that hold a valid output (the last ones are padding).</summary>
        public int Columns(int nb) => (nb - 1) * Plane + (Hout - 1) * Wq + Wout;
        /// <summary>Floats of the lowered input of nb images, plus the slack the last tile reads past it.</summary>
        public long LoweredLength(int nb) => (long)C * SH * SW * nb * Plane + Plane + Slack;
    }

    /// <summary>
    /// One implicit GEMM over a lowered input: for each group g, row m &lt; M and output pixel,
    ///   out[g·M + m, pixel] = Σ_k A[g][m, k] · L[Q(pixel) + plane_k·nb·Plane + delta_k] (+ bias)
    /// A packed in panels of TileRows rows (TileM, or 1 for V4's thin tile); taps (plane_k, delta_k) per group; the output pixel (oh, ow) of
    /// image n, channel ch lands at out[n·OutImage + ch·OutChannel + OutOrigin + oh·OutRow + ow·OutCol].
    /// </summary>
    readonly struct Plan
    {
        public Grid Q { get; init; }
        public int N { get; init; }
        public int Groups { get; init; }
        public int M { get; init; }
        public int K { get; init; }
        /// <summary>Rows of the register tile: TileM (8 × 48), 1 (1 × ThinN), or PxRows (V5's 64 filters × 6 pixels).</summary>
        public int TileRows { get; init; }
        public int Panels => (M + TileRows - 1) / TileRows;
        /// <summary>V7: while a part computes, prefetch into L2 the input of the part this thread likely takes next.</summary>
        public bool Prefetch { get; init; }
        /// <summary>V7: store each 8 × 48 (or thin) tile one tile later, its output lines prefetched meanwhile (see
        /// ImplicitJob); only where a tile has DeferMinK taps or more to hide the prefetches behind.</summary>
        public bool DeferStore { get; init; }
        public float* A { get; init; }
        public int* TapPlane { get; init; }
        public int* TapDelta { get; init; }
        public float* Bias { get; init; }
        public long OutImage { get; init; }
        public long OutChannel { get; init; }
        public int OutOrigin { get; init; }
        public int OutRow { get; init; }
        public int OutCol { get; init; }
    }

    /// <summary>Images per batch: the lowered input of a batch stays near LoweredBudgetFloats, and a
    /// batch of at least 4 exists for every 4 images so both cores get work. A function of the problem.</summary>
    static int V3BatchImages(int N, in Grid q)
    {
        long perImage = (long)q.C * q.SH * q.SW * q.Plane;
        int nb = (int)Math.Clamp(LoweredBudgetFloats / Math.Max(perImage, 1), 1, Math.Max(N, 1));
        return Math.Max(1, Math.Min(nb, (N + 3) / 4));
    }

    [ThreadStatic] static float[]? t_lowered;
    [ThreadStatic] static int[]? t_offsets;

    /// <summary>The lowered input's buffer, q.Lead zeros before the returned pointer.</summary>
    static float* LoweredWorkspace(in Grid q, long floats)
    {
        floats += q.Lead;
        if (t_lowered == null || t_lowered.Length < floats)
            t_lowered = GC.AllocateUninitializedArray<float>((int)Math.Max(floats, 1024), pinned: true);
        float* L = (float*)Unsafe.AsPointer(ref t_lowered[0]);
        new Span<float>(L, q.Lead).Clear();
        return L + q.Lead;
    }

    /// <summary>off[k] = plane_k·nb·Plane + delta_k for one group's K taps, padded to a multiple of OffsetPad with the last entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int* Offsets(int* plane, int* delta, int K, in Grid q, int nb)
    {
        int Kpad = (K + OffsetPad - 1) / OffsetPad * OffsetPad;
        if (t_offsets == null || t_offsets.Length < Kpad) t_offsets = GC.AllocateUninitializedArray<int>(Kpad, pinned: true);
        int* off = (int*)Unsafe.AsPointer(ref t_offsets[0]);
        long stride = (long)nb * q.Plane;
        for (int k = 0; k < K; k++) off[k] = (int)(plane[k] * stride + delta[k]);
        for (int k = K; k < Kpad; k++) off[k] = off[K - 1];
        return off;
    }

    [ThreadStatic] static int[]? t_taps;

    /// <summary>The forward convolution's taps: k = (c, ki, kj) of each group, plane (c, ki·DH mod SH, kj·DW mod SW).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int* ForwardTaps(in Conv2dProblem p, in Grid q, out int* delta)
    {
        int K = p.KG, total = p.Groups * K;
        if (t_taps == null || t_taps.Length < 2 * total) t_taps = GC.AllocateUninitializedArray<int>(2 * total, pinned: true);
        int* plane = (int*)Unsafe.AsPointer(ref t_taps[0]);
        delta = plane + total;
        var geo = p.Geo;
        int k = 0;
        for (int c = 0; c < p.Cin; c++)
            for (int ki = 0; ki < geo.KH; ki++)
                for (int kj = 0; kj < geo.KW; kj++, k++)
                {
                    int th = ki * geo.DH, tw = kj * geo.DW;
                    plane[k] = (c * q.SH + th % q.SH) * q.SW + tw % q.SW;
                    delta[k] = q.SH == 1 && q.SW == 1 ? q.Delta(th - geo.PH, tw - geo.PW) : th / q.SH * q.Wq + tw / q.SW;
                }
        return plane;
    }

    /// <summary>Lowers images n0 … n0+nb−1 of x into L (layout in the file header), zeros included, and zeroes the slack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Lower(float* x, float* L, in Grid q, int n0, int nb)
    {
        int HW = q.H * q.W;
        for (int c = 0; c < q.C; c++)
            for (int rh = 0; rh < q.SH; rh++)
                for (int rw = 0; rw < q.SW; rw++)
                {
                    // Columns j whose source column j·SW + rw − PW lies inside the image.
                    int off = rw - q.PW;
                    int jLo = off >= 0 ? 0 : (-off + q.SW - 1) / q.SW;
                    int jHi = q.W - 1 - off < 0 ? 0 : (q.W - 1 - off) / q.SW + 1;
                    jLo = Math.Min(jLo, q.Wq); jHi = Math.Clamp(jHi, jLo, q.Wq);
                    float* dstPlane = L + (((long)c * q.SH + rh) * q.SW + rw) * nb * q.Plane;
                    for (int i = 0; i < nb; i++)
                    {
                        float* src = x + ((long)(n0 + i) * q.C + c) * HW;
                        float* d = dstPlane + (long)i * q.Plane;
                        for (int r = 0; r < q.Hq; r++, d += q.Wq)
                        {
                            int ih = r * q.SH + rh - q.PH;
                            if ((uint)ih >= (uint)q.H || jLo >= jHi) { new Span<float>(d, q.Wq).Clear(); continue; }
                            if (q.SW == 1) { LowerRow(src + (long)ih * q.W + off, d, jLo, jHi, q.Wq); continue; }
                            if (jLo > 0) new Span<float>(d, jLo).Clear();
                            if (jHi < q.Wq) new Span<float>(d + jHi, q.Wq - jHi).Clear();
                            float* s = src + (long)ih * q.W + jLo * q.SW + off;
                            if (q.SW == 1) Buffer.MemoryCopy(s, d + jLo, (jHi - jLo) * 4L, (jHi - jLo) * 4L);
                            else for (int j = jLo; j < jHi; j++, s += q.SW) d[j] = *s;
                        }
                    }
                }
        new Span<float>(L + (long)q.C * q.SH * q.SW * nb * q.Plane, q.Plane + Slack).Clear();
    }

    /// <summary>d[j] = s[j] for jLo ≤ j &lt; jHi, else 0, for j &lt; Wq: one masked load and store per 16 columns.
    /// (Three calls per row — clear, copy, clear — cost more than the copy on 28-wide rows, and a
    /// one-channel GEMM (the stem's dx) lowers 32 channels for every output row it computes.)
    /// Masked-off lanes of s may lie outside the image: AVX-512 masked loads do not touch them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LowerRow(float* s, float* d, int jLo, int jHi, int Wq)
    {
        var lanes = Vector512<int>.Indices;
        for (int j0 = 0; j0 < Wq; j0 += 16)
        {
            var j = lanes + Vector512.Create(j0);
            var inside = (Vector512.GreaterThanOrEqual(j, Vector512.Create(jLo)) & Vector512.LessThan(j, Vector512.Create(jHi))).AsSingle();
            var v = Avx512F.MaskLoad(s + j0, inside, Vector512<float>.Zero);
            if (j0 + 16 <= Wq) v.Store(d + j0);
            else Avx512F.MaskStore(d + j0, Vector512.LessThan(j, Vector512.Create(Wq)).AsSingle(), v);
        }
    }

    // ───────────────────── forward (and the implicit GEMM every map but weight-grad runs) ─────────────────────

    [ThreadStatic] static float[]? t_packedA;

    static float* PackBuffer(long floats)
    {
        if (t_packedA == null || t_packedA.Length < floats) t_packedA = GC.AllocateUninitializedArray<float>((int)Math.Max(floats, 16), pinned: true);
        return (float*)Unsafe.AsPointer(ref t_packedA[0]);
    }

    /// <summary>W (Cout × KG per group) → panels of <paramref name="rows"/> filters, element (k, r) at k·rows + r, zero rows past Fg.
    /// Panels are packed in parallel: serial, the pack ran before the parallel tiles and was ~3% of a 2-thread 7 × 7
    /// (128 → 128) forward.</summary>
    static float* PackWeights(float* w, in Conv2dProblem p, int rows)
    {
        int panels = (p.CoutG + rows - 1) / rows;
        float* d = PackBuffer((long)p.Groups * panels * rows * p.KG);
        var job = new PackPanelsJob(w, d, p, rows, null, 0);
        RunPack(job, p.Groups * panels, (long)p.Groups * panels * rows * p.KG);
        return d;
    }

    /// <summary>Panels of the packed weights as parts (each writes only its own panel, so any split gives the same bits);
    /// serial below ~64K floats, where a hand-off costs more than the copy.</summary>
    static void RunPack(in PackPanelsJob job, int panels, long floats)
    {
        if (panels == 1 || floats < 1 << 16) for (int i = 0; i < panels; i++) job.Execute(i);
        else WorkerPool.Run(job, panels);
    }

    /// <summary>One panel of packed weights. Forward (taps == null): W's filters f0 … f0+rows−1 of group g transposed to
    /// (k, r). Input-grad (taps: the T taps of the phase, as ki·KW + kj): A[m = c, k = (j, t)] = w[g·CoutG + j, c, tap t],
    /// rows m0 … m0+rows−1 of dx channels.</summary>
    readonly struct PackPanelsJob(float* w, float* packed, Conv2dProblem p, int rows, int* taps, int T) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int panel)
        {
            if (taps == null) PackForward(panel); else PackTransposed(panel);
        }

        void PackForward(int panel)
        {
            int K = p.KG, Fg = p.CoutG, panels = (Fg + rows - 1) / rows, K16 = K & ~15;
            int g = panel / panels, f0 = panel % panels * rows;
            float* d = packed + (long)panel * rows * K;
            if (rows % 16 == 0 && f0 + rows <= Fg)
            {
                // Whole panels by 16 × 16 register transposes: the element-wise loop read one strided float per
                // element and was ~5% of a 7 × 7 (128 → 128) forward, run before the parallel part.
                float* src = w + (long)(g * Fg + f0) * K;
                for (int r0 = 0; r0 < rows; r0 += 16)
                    for (int k0 = 0; k0 < K16; k0 += 16)
                        Transpose16.Run(src + (long)r0 * K + k0, K, d + (long)k0 * rows + r0, rows);
                for (int k = K16; k < K; k++)
                    for (int r = 0; r < rows; r++) d[(long)k * rows + r] = src[(long)r * K + k];
                return;
            }
            for (int k = 0; k < K; k++)
                for (int r = 0; r < rows; r++)
                    d[(long)k * rows + r] = f0 + r < Fg ? w[(long)(g * Fg + f0 + r) * K + k] : 0f;
        }

        void PackTransposed(int panel)
        {
            var geo = p.Geo;
            int CinG = p.CinG, CoutG = p.CoutG, KK = geo.KH * geo.KW, panels = (CinG + rows - 1) / rows, K = CoutG * T;
            int gr = panel / panels, m0 = panel % panels * rows;
            float* d = packed + (long)panel * rows * K;
            if (T == KK && m0 + rows <= CinG)
            {
                // Every tap, in (ki, kj) order, and a whole panel: each row's KK taps are contiguous in w,
                // so read them in order and scatter into the panel's L1-sized (j) block. (The element-wise
                // gather below was ~7% of a 7 × 7 (128 → 128) input-grad, run before the parallel part.)
                for (int j = 0; j < CoutG; j++, d += T * rows)
                    for (int r = 0; r < rows; r++)
                    {
                        float* s = w + ((long)(gr * CoutG + j) * CinG + m0 + r) * KK;
                        for (int t = 0; t < T; t++) d[t * rows + r] = s[t];
                    }
                return;
            }
            for (int j = 0; j < CoutG; j++)
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < rows; r++)
                        *d++ = m0 + r < CinG ? w[((long)(gr * CoutG + j) * CinG + m0 + r) * KK + taps[t]] : 0f;
        }
    }

    /// <summary>V7 defers tile stores from this many taps up: the head's input-grad (K = 9) lost 0.45 → 0.54 ms with
    /// them (three prefetches per row segment against 9 taps of FMAs).</summary>
    const int DeferMinK = 64;

    readonly struct ImplicitJob(Plan plan, float* x, float* y, int nb) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var q = plan.Q;
            int n0 = part * nb, count = Math.Min(nb, plan.N - n0);
            float* L = LoweredWorkspace(q, q.LoweredLength(count));
            Lower(x, L, q, n0, count);
            int K = plan.K, M = plan.M, panels = plan.Panels, Qn = q.Columns(count);
            var pf = plan.Prefetch ? NextPartPrefetch.ForImages(x, q, plan.N, NextPartImages(part, (plan.N + nb - 1) / nb, nb, plan.N),
                plan.Groups * ((Qn + (plan.TileRows == 1 ? ThinN : TileN) - 1) / (plan.TileRows == 1 ? ThinN : TileN)) * panels) : default;
            // The thin tile (one row, ThinN columns) or the 8 × 48 one; the tile buffer fits either.
            bool thin = plan.TileRows == 1;
            int tm = thin ? 1 : TileM, tn = thin ? ThinN : TileN;
            const int tileLen = TileM * TileN > ThinN ? TileM * TileN : ThinN, segLen = (TileN > ThinN ? TileN : ThinN) + 1;
            // Two tile and two segment buffers: V7 stores a tile after the next one is computed (below).
            float* tiles = stackalloc float[2 * tileLen];
            Segment* segBufs = stackalloc Segment[2 * segLen];
            int tileSlot = 0, segSlot = 0;
            bool defer = plan.DeferStore, pending = false;
            float* pTile = null; Segment* pSegs = null; int pNs = 0, pCh = 0, pRows = 0;
            float* yb = y + n0 * plan.OutImage + plan.OutOrigin;
            for (int g = 0; g < plan.Groups; g++)
            {
                int* off = Offsets(plan.TapPlane + g * K, plan.TapDelta + g * K, K, q, count);
                for (int q0 = 0; q0 < Qn; q0 += tn)
                {
                    Segment* segs = segBufs + segSlot * segLen;
                    int ns = Segments(q, q0, Math.Min(tn, Qn - q0), segs, plan);
                    if (ns == 0) continue;
                    segSlot ^= 1;
                    for (int pi = 0; pi < panels; pi++)
                    {
                        float* a = plan.A + ((long)g * panels + pi) * tm * K, tile = tiles + tileSlot * tileLen;
                        if (thin) Tile1x128(K, a, L + q0, off, tile);
                        else Tile8x48(K, a, L + q0, off, tile);
                        pf.Step();
                        int ch = g * M + pi * tm, rows = Math.Min(tm, M - pi * tm);
                        if (!defer) { StoreTile(tile, tn, yb, plan, segs, ns, ch, rows); continue; }
                        // V7: the store of a tile waits one tile, and its output lines are fetched meanwhile: a 28 × 28
                        // map's y (6.4 MB at 32 channels) misses every cache, and the store's read-for-ownership then
                        // stalled the core (perf: ImplicitJob.Execute, the store, at 21% of Tile8x48's samples).
                        PrefetchTileOutput(yb, plan, segs, ns, ch, rows);
                        if (pending) StoreTile(pTile, tn, yb, plan, pSegs, pNs, pCh, pRows);
                        pending = true; pTile = tile; pSegs = segs; pNs = ns; pCh = ch; pRows = rows;
                        tileSlot ^= 1;
                    }
                }
            }
            if (pending) StoreTile(pTile, tn, yb, plan, pSegs, pNs, pCh, pRows);
        }
    }

    /// <summary>Brings the output lines a tile's segments will be stored to into L1 (first, 16th and last float of each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchTileOutput(float* yb, in Plan plan, Segment* segs, int ns, int ch, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            float* d = yb + (ch + r) * plan.OutChannel;
            for (int s = 0; s < ns; s++)
            {
                float* a = d + segs[s].Dst;
                long last = (long)(segs[s].Len - 1) * plan.OutCol;
                Sse.Prefetch0(a); Sse.Prefetch0(a + Math.Min(16L, last)); Sse.Prefetch0(a + last);
            }
        }
    }

    /// <summary>Rows r &lt; rows of a tile (row stride tn) into output channels ch + r, by segments, bias added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreTile(float* tile, int tn, float* yb, in Plan plan, Segment* segs, int ns, int ch, int rows)
    {
        for (int r = 0; r < rows; r++)
            StoreSegments(tile + r * tn, yb + (ch + r) * plan.OutChannel, segs, ns,
                plan.Bias == null ? 0f : plan.Bias[ch + r], plan.OutCol);
    }

    /// <summary>A run of valid columns: tile column Col, Len of them, landing at output offset Dst (image, row, column applied).</summary>
    struct Segment { public int Col, Len; public long Dst; }

    /// <summary>Splits tile columns [q0, q0 + n) into runs that lie in one output row; returns how many.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int Segments(in Grid q, int q0, int n, Segment* segs, in Plan plan)
    {
        int ns = 0, col = 0;
        while (col < n)
        {
            int Q = q0 + col, i = Q / q.Plane, rem = Q - i * q.Plane, oh = rem / q.Wq, ow = rem - oh * q.Wq;
            if (oh >= q.Hout) { col += q.Plane - rem; continue; }           // padding rows below the image
            if (ow >= q.Wout) { col += q.Wq - ow; continue; }               // padding columns right of a row
            int len = Math.Min(q.Wout - ow, n - col);
            segs[ns++] = new Segment { Col = col, Len = len, Dst = i * plan.OutImage + (long)oh * plan.OutRow + (long)ow * plan.OutCol };
            col += len;
        }
        return ns;
    }

    /// <summary>dst[Dst + t·colStride] = src[Col + t] + bias for each segment; unit stride with masked tails.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreSegments(float* src, float* dst, Segment* segs, int ns, float bias, int colStride)
    {
        if (colStride != 1)
        {
            for (int s = 0; s < ns; s++)
            {
                float* a = src + segs[s].Col, d = dst + segs[s].Dst;
                for (int t = 0; t < segs[s].Len; t++) d[(long)t * colStride] = a[t] + bias;
            }
            return;
        }
        var vb = Vector512.Create(bias);
        var lanes = Vector512<int>.Indices;
        for (int s = 0; s < ns; s++)
        {
            float* a = src + segs[s].Col, d = dst + segs[s].Dst;
            int len = segs[s].Len, t = 0;
            for (; t + 16 <= len; t += 16) (Vector512.Load(a + t) + vb).Store(d + t);
            if (t < len)
            {
                var mask = Vector512.LessThan(lanes, Vector512.Create(len - t)).AsSingle();
                Avx512F.MaskStore(d + t, mask, Avx512F.MaskLoad(a + t, mask, Vector512<float>.Zero) + vb);
            }
        }
    }

    /// <summary>c (8 × 48, row stride 48) = Σ_k a[k] (8 filters) ⊗ b[k] (48 columns at src + off[k]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile8x48(int K, float* a, float* src, int* off, float* c)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        Vector512<float> c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        for (int k = 0; k < K; k++, a += TileM)
        {
            float* b = src + off[k];
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41); c42 = Vector512.FusedMultiplyAdd(x, b2, c42);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51); c52 = Vector512.FusedMultiplyAdd(x, b2, c52);
            x = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61); c62 = Vector512.FusedMultiplyAdd(x, b2, c62);
            x = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71); c72 = Vector512.FusedMultiplyAdd(x, b2, c72);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32);
        c10.Store(c + 48); c11.Store(c + 64); c12.Store(c + 80);
        c20.Store(c + 96); c21.Store(c + 112); c22.Store(c + 128);
        c30.Store(c + 144); c31.Store(c + 160); c32.Store(c + 176);
        c40.Store(c + 192); c41.Store(c + 208); c42.Store(c + 224);
        c50.Store(c + 240); c51.Store(c + 256); c52.Store(c + 272);
        c60.Store(c + 288); c61.Store(c + 304); c62.Store(c + 320);
        c70.Store(c + 336); c71.Store(c + 352); c72.Store(c + 368);
    }

    /// <summary>Runs a plan over all images in batches (parts) on the worker pool.</summary>
    static void RunPlan(in Plan plan, float* x, float* y)
    {
        if (plan.N == 0 || plan.Q.Hout == 0 || plan.Q.Wout == 0 || plan.K == 0) return;
        if (plan.TileRows == PxRows)
        {
            // V5's pixel tiles (Conv2d.V5Pixels.cs), on near-equal image ranges.
            int pparts = V5Parts(plan.N, plan.Q);
            var pjob = new PixelJob(plan, x, y, pparts);
            if (pparts == 1) pjob.Execute(0); else WorkerPool.Run(pjob, pparts);
            return;
        }
        int nb = V3BatchImages(plan.N, plan.Q), parts = (plan.N + nb - 1) / nb;
        var job = new ImplicitJob(plan, x, y, nb);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    /// <param name="rows">Register tile rows: TileM (V3), 1 for V4's thin tile, PxRows for V5's pixel tile.</param>
    static void V3Forward(float* x, float* w, float* bias, float* y, in Conv2dProblem p, int rows = TileM, bool prefetch = false)
    {
        var q = Grid.Forward(p.Geo);
        int* plane = ForwardTaps(p, q, out int* delta);
        RunPlan(new Plan
        {
            Q = q, N = p.N, Groups = p.Groups, M = p.CoutG, K = p.KG, A = PackWeights(w, p, rows), TileRows = rows, Prefetch = prefetch, DeferStore = prefetch && p.KG >= DeferMinK, TapPlane = plane, TapDelta = delta,
            Bias = bias, OutImage = (long)p.Cout * p.P, OutChannel = p.P, OutOrigin = 0, OutRow = q.Wout, OutCol = 1,
        }, x, y);
    }

    // ───────────────────── input gradient ─────────────────────

    /// <summary>
    /// dx by output phase (polyphase transposed convolution). With ih + PH = SH·α + ρ, the taps that
    /// reach ih are those with ki·DH ≡ ρ (mod SH), and they read gy row α − ⌊ki·DH / SH⌋. So the dx
    /// pixels of one phase (ρh, ρw) are a stride-1 correlation of gy with that phase's taps, rows
    /// (filters) of the transposed weight: one implicit GEMM per phase, stored with stride (SH, SW).
    /// Stride 1 is one phase: the flipped, transposed kernel.
    /// </summary>
    /// <param name="bias">Added to every dx pixel of channel c (the transposed convolution's bias), or null.</param>
    /// <param name="rows">Register tile rows: TileM (V3), 1 for V4's thin tile, PxRows for V5's pixel tile.</param>
    static void V3InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p, int rows = TileM, bool prefetch = false)
    {
        if (p.N == 0) return;
        var g = p.Geo;
        int CinG = p.CinG, CoutG = p.CoutG, KK = g.KH * g.KW;
        Span<int> tapKi = stackalloc int[KK], tapKj = stackalloc int[KK];
        int* tapIndex = stackalloc int[KK];   // tap t of a phase as ki·KW + kj (for the weight pack)
        for (int rh = 0; rh < g.SH; rh++)
            for (int rw = 0; rw < g.SW; rw++)
            {
                var (a0, A, padH, uMaxH) = Phase(g.H, g.PH, g.SH, g.KH, g.DH, g.Hout, rh);
                var (b0, B, padW, uMaxW) = Phase(g.W, g.PW, g.SW, g.KW, g.DW, g.Wout, rw);
                if (A <= 0 || B <= 0) continue;
                int T = 0;
                for (int ki = 0; ki < g.KH; ki++)
                    for (int kj = 0; kj < g.KW; kj++)
                        if (ki * g.DH % g.SH == rh && kj * g.DW % g.SW == rw) { tapKi[T] = ki; tapKj[T] = kj; T++; }
                int origin = (g.SH * a0 + rh - g.PH) * g.W + (g.SW * b0 + rw - g.PW);
                if (T == 0) { ZeroPhase(dx, bias, p, origin, A, B); continue; }
                int reachH = (g.KH - 1) * g.DH, reachW = (g.KW - 1) * g.DW;
                var q = g.SH == 1 && g.SW == 1
                    ? Grid.Stride1(p.Cout, g.Hout, g.Wout, A, B, reachH - g.PH, reachW - g.PW, reachH, reachW)
                    : new Grid(p.Cout, g.Hout, g.Wout, 1, 1, padH, padW, A, B, A + uMaxH, B + uMaxW);
                // Taps k = (j, t) of group gr: gy channel gr·CoutG + j, grid shift (u, v) of tap t.
                int K = CoutG * T, total = p.Groups * K;
                if (t_taps == null || t_taps.Length < 2 * total) t_taps = GC.AllocateUninitializedArray<int>(2 * total, pinned: true);
                int* plane = (int*)Unsafe.AsPointer(ref t_taps[0]), delta = plane + total;
                int panels = (CinG + rows - 1) / rows;
                float* pa = PackBuffer((long)p.Groups * panels * rows * K);
                for (int gr = 0; gr < p.Groups; gr++)
                {
                    for (int j = 0; j < CoutG; j++)
                        for (int t = 0; t < T; t++)
                        {
                            int k = gr * K + j * T + t;
                            plane[k] = gr * CoutG + j;
                            // gy (row, col) read for dx phase pixel (a, b): (a + a0 − ⌊ki·DH/SH⌋, b + b0 − ⌊kj·DW/SW⌋).
                            delta[k] = q.Delta(a0 - tapKi[t] * g.DH / g.SH, b0 - tapKj[t] * g.DW / g.SW);
                        }
                }
                // A[gr][m = c, k = (j, t)] = w[gr·CoutG + j, c, ki_t, kj_t], in panels of `rows` rows.
                for (int t = 0; t < T; t++) tapIndex[t] = tapKi[t] * g.KW + tapKj[t];
                RunPack(new PackPanelsJob(w, pa, p, rows, tapIndex, T), p.Groups * panels, (long)p.Groups * panels * rows * K);
                RunPlan(new Plan
                {
                    Q = q, N = p.N, Groups = p.Groups, M = CinG, K = K, A = pa, TileRows = rows, Prefetch = prefetch, DeferStore = prefetch && K >= DeferMinK, TapPlane = plane, TapDelta = delta, Bias = bias,
                    OutImage = (long)p.Cin * p.HW, OutChannel = p.HW, OutOrigin = origin, OutRow = g.SH * g.W, OutCol = g.SW,
                }, gy, dx);
            }
    }

    /// <summary>One dimension of an input-grad phase ρ: first α (α0), count of dx rows in it, gy padding
    /// before the image, and the largest grid shift of its taps.</summary>
    static (int A0, int Count, int Pad, int UMax) Phase(int H, int P, int S, int Kk, int D, int Hout, int rho)
    {
        int a0 = P - rho > 0 ? (P - rho + S - 1) / S : 0;
        int count = (H - 1 + P - rho) < 0 ? 0 : (H - 1 + P - rho) / S - a0 + 1;
        int pad = 0, uMax = 0;
        bool any = false;
        for (int k = 0; k < Kk; k++)
            if (k * D % S == rho) { pad = Math.Max(pad, k * D / S - a0); any = true; }
        if (!any) return (a0, count, 0, 0);
        for (int k = 0; k < Kk; k++)
            if (k * D % S == rho) uMax = Math.Max(uMax, a0 - k * D / S + pad);
        return (a0, count, pad, uMax);
    }

    /// <summary>A phase no tap reaches (kernel smaller than the stride): its dx pixels are zero (or the bias).</summary>
    static void ZeroPhase(float* dx, float* bias, in Conv2dProblem p, int origin, int A, int B)
    {
        var g = p.Geo;
        for (long nc = 0; nc < (long)p.N * p.Cin; nc++)
        {
            float v = bias == null ? 0f : bias[nc % p.Cin];
            for (int a = 0; a < A; a++)
            {
                float* row = dx + nc * p.HW + origin + (long)a * g.SH * g.W;
                for (int b = 0; b < B; b++) row[(long)b * g.SW] = v;
            }
        }
    }

    // ───────────────────── weight gradient ─────────────────────

    [ThreadStatic] static float[]? t_gq;

    /// <summary>gy of images n0 … n0+nb−1 onto the Q grid (Cout rows of stride ld), zero in padding columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float* LowerGrad(float* gy, in Conv2dProblem p, in Grid q, int n0, int nb, int ld)
    {
        long need = (long)p.Cout * ld + 16;
        if (t_gq == null || t_gq.Length < need) t_gq = GC.AllocateUninitializedArray<float>((int)need, pinned: true);
        float* G = (float*)Unsafe.AsPointer(ref t_gq[0]);
        new Span<float>(G, (int)need).Clear();
        int P = p.P;
        for (int co = 0; co < p.Cout; co++)
            for (int i = 0; i < nb; i++)
            {
                float* s = gy + ((long)(n0 + i) * p.Cout + co) * P;
                float* d = G + (long)co * ld + (long)i * q.Plane;
                for (int oh = 0; oh < q.Hout; oh++, s += q.Wout, d += q.Wq)
                    Buffer.MemoryCopy(s, d, q.Wout * 4L, q.Wout * 4L);
            }
        return G;
    }

    readonly struct ImplicitWeightGradJob(Conv2dProblem p, float* x, float* gy, float* dwParts, int nb, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var q = Grid.Forward(p.Geo);
            int batches = (p.N + nb - 1) / nb;
            var (b0, bc) = WorkerPool.Range(batches, parts, part);
            int K = p.KG, Fg = p.CoutG;
            // Each worker builds its own tap table (t_taps is per thread).
            int* plane = ForwardTaps(p, q, out int* delta);
            float* dw = dwParts + (long)part * p.WeightLength;
            new Span<float>(dw, (int)p.WeightLength).Clear();
            for (int bi = b0; bi < b0 + bc; bi++)
            {
                int n0 = bi * nb, count = Math.Min(nb, p.N - n0);
                int Qn = q.Columns(count), ld = (Qn + 15) & ~15;
                float* L = LoweredWorkspace(q, q.LoweredLength(count) + 16);
                Lower(x, L, q, n0, count);
                float* G = LowerGrad(gy, p, q, n0, count, ld);
                for (int g = 0; g < p.Groups; g++)
                {
                    int* off = Offsets(plane + g * K, delta + g * K, K, q, count);
                    for (int f0 = 0; f0 < Fg; f0 += DotM)
                    {
                        int rows = Math.Min(DotM, Fg - f0);
                        float* g0 = G + (long)(g * Fg + f0) * ld;
                        for (int k0 = 0; k0 < K; k0 += DotK)
                            Dot4x6(ld / 16, g0, ld, rows, L, off + k0, dw + (long)(g * Fg + f0) * K + k0, K, Math.Min(DotK, K - k0));
                    }
                }
            }
        }
    }

    /// <summary>dw[r, t] += Σ_Q g[r·ld + Q] · src[off[t] + Q] for r &lt; rows, t &lt; taps (tile 4 × 6, Q in steps of 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot4x6(int steps, float* g, int ld, int rows, float* src, int* off, float* dw, int K, int taps)
    {
        // Missing rows read row 0 again; their sums are dropped below.
        float* g1 = rows > 1 ? g + ld : g, g2 = rows > 2 ? g + 2 * ld : g, g3 = rows > 3 ? g + 3 * ld : g;
        float* s0 = src + off[0], s1 = src + off[1], s2 = src + off[2], s3 = src + off[3], s4 = src + off[4], s5 = src + off[5];
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default, a25 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default, a35 = default;
        for (nint i = 0, end = (nint)steps * 16; i < end; i += 16)
        {
            var x0 = Vector512.Load(s0 + i); var x1 = Vector512.Load(s1 + i); var x2 = Vector512.Load(s2 + i);
            var x3 = Vector512.Load(s3 + i); var x4 = Vector512.Load(s4 + i); var x5 = Vector512.Load(s5 + i);
            var y = Vector512.Load(g + i);
            a00 = Vector512.FusedMultiplyAdd(y, x0, a00); a01 = Vector512.FusedMultiplyAdd(y, x1, a01); a02 = Vector512.FusedMultiplyAdd(y, x2, a02);
            a03 = Vector512.FusedMultiplyAdd(y, x3, a03); a04 = Vector512.FusedMultiplyAdd(y, x4, a04); a05 = Vector512.FusedMultiplyAdd(y, x5, a05);
            y = Vector512.Load(g1 + i);
            a10 = Vector512.FusedMultiplyAdd(y, x0, a10); a11 = Vector512.FusedMultiplyAdd(y, x1, a11); a12 = Vector512.FusedMultiplyAdd(y, x2, a12);
            a13 = Vector512.FusedMultiplyAdd(y, x3, a13); a14 = Vector512.FusedMultiplyAdd(y, x4, a14); a15 = Vector512.FusedMultiplyAdd(y, x5, a15);
            y = Vector512.Load(g2 + i);
            a20 = Vector512.FusedMultiplyAdd(y, x0, a20); a21 = Vector512.FusedMultiplyAdd(y, x1, a21); a22 = Vector512.FusedMultiplyAdd(y, x2, a22);
            a23 = Vector512.FusedMultiplyAdd(y, x3, a23); a24 = Vector512.FusedMultiplyAdd(y, x4, a24); a25 = Vector512.FusedMultiplyAdd(y, x5, a25);
            y = Vector512.Load(g3 + i);
            a30 = Vector512.FusedMultiplyAdd(y, x0, a30); a31 = Vector512.FusedMultiplyAdd(y, x1, a31); a32 = Vector512.FusedMultiplyAdd(y, x2, a32);
            a33 = Vector512.FusedMultiplyAdd(y, x3, a33); a34 = Vector512.FusedMultiplyAdd(y, x4, a34); a35 = Vector512.FusedMultiplyAdd(y, x5, a35);
        }
        float* s = stackalloc float[DotM * DotK];
        s[0] = Vector512.Sum(a00); s[1] = Vector512.Sum(a01); s[2] = Vector512.Sum(a02); s[3] = Vector512.Sum(a03); s[4] = Vector512.Sum(a04); s[5] = Vector512.Sum(a05);
        s[6] = Vector512.Sum(a10); s[7] = Vector512.Sum(a11); s[8] = Vector512.Sum(a12); s[9] = Vector512.Sum(a13); s[10] = Vector512.Sum(a14); s[11] = Vector512.Sum(a15);
        s[12] = Vector512.Sum(a20); s[13] = Vector512.Sum(a21); s[14] = Vector512.Sum(a22); s[15] = Vector512.Sum(a23); s[16] = Vector512.Sum(a24); s[17] = Vector512.Sum(a25);
        s[18] = Vector512.Sum(a30); s[19] = Vector512.Sum(a31); s[20] = Vector512.Sum(a32); s[21] = Vector512.Sum(a33); s[22] = Vector512.Sum(a34); s[23] = Vector512.Sum(a35);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < taps; t++)
                dw[(long)r * K + t] += s[r * DotK + t];
    }

    /// <summary>Parts of the weight-grad job: batches of V3BatchImages, at most 16 (each keeps a partial dW).</summary>
    static int V3WeightGradParts(in Conv2dProblem p, out int nb)
    {
        nb = V3BatchImages(p.N, Grid.Forward(p.Geo));
        return Math.Min(16, (p.N + nb - 1) / nb);
    }

    static void V3WeightGrad(float* x, float* gy, float* dwOrPartials, in Conv2dProblem p, int nb, int parts)
    {
        var job = new ImplicitWeightGradJob(p, x, gy, dwOrPartials, nb, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }
}
