// Conv2d.V7.cs — V6 plus (1) direct stencils for the stem's forward and weight gradient (Cin = 1, 3 × 3,
// stride 1, dilation 1, no groups: the K2 / M1 stem, x (N, 1, 28, 28) → 32 channels), and (2) on every other
// shape V6's tiles (V4's 8 × 48, V5's 64 × 6 and weight-grad tiles) with the memory traffic moved off the
// critical path. The stem's input-grad is V6's. Same bits as V6 off the stem (tests).
//
// Why (1): with Cin = 1, K = 9, so the implicit GEMM does 9 FMAs per output column and spends the rest on
// lowering the input, its 8 × 48 tile's transposed store (forward) and the weight-grad's tap tiles padded to
// 16 taps. Here the image is one zero-padded L1 plane, copied once per image and shared by every filter:
//   forward      a block of 4 output rows × 32 columns: 6 plane rows at 3 column shifts (36 loads) feed 72
//                FMAs with the filter's 9 weights in registers; stored straight into y with masked row
//                stores, the bias the accumulator's start.
//   weight-grad  per filter, 9 accumulators (taps; lanes = 16 columns of a strip): per 4 gy rows, 6 plane
//                rows at 3 shifts (18 loads) and 4 masked gy loads feed 36 FMAs. The accumulators live in an
//                L1 buffer across the images of a part; one horizontal sum per tap and part.
//   Stem (64, 1, 28, 28) → 32, 1 thread, CPU ms, min of 9 (m1conv --shapes 0 --versions V6Stem,V7, load 10–13):
//   forward 0.64 → 0.29, weight-grad 0.65 → 0.47.
// Why (2): a part's tiles run from L1/L2 while its lowering reads x (or gy) from DRAM, and its stores write
// y lines that miss every cache (6.4 MB at 32 × 28 × 28): perf put Lower at ~15% and the 8 × 48 tile's store
// at ~20% of Tile8x48's samples on the 32-channel 28 × 28 maps. So, during a part's tiles:
//   prefetch     the input of the part this thread likely takes next (part + threads; the next batch of
//                the part in weight-grad) is prefetched into L2, a few lines per tile;
//   defer        an 8 × 48 tile is stored one tile later, its output lines prefetched meanwhile (K ≥ 64);
//                V5's 48-pixel groups prefetch their output lines before their tiles run (64 → 64 at 14 × 14
//                forward 5.47 → 5.44, 5.36 → 5.20 ms; 128 → 128 at 7 × 7 5.25 → 5.04, 5.96 → 5.96: ~1–3%).
//   M1's K2 maps, 1 thread, CPU ms (m1conv --shapes 1,4,8 --versions V6Stem,V7, prefetch only): 242.7 →
//   231.3, 236.2 → 226.2; with the deferred stores (--shapes 1,16,18): 32 → 32 at 28 × 28 forward 6.05 →
//   5.72, 5.67 → 5.37 ms; all M1 maps (--versions V6Stem,Best, three runs) per map 0.92–0.97 of V6 at
//   28 × 28, ~1.0 at 14 × 14 and 7 × 7 (bench/results/cpu-2026-11-23-session4-conv.md).
// Tried and dropped (interleaved against V6): a 32-filter × 12-pixel tile for the 32-channel 28 × 28 maps
// (V5's valid-pixel walk with full 32-row panels: forward 8.10 vs V4's 7.50 ms, input-grad 8.27 vs 7.42,
// 5–12% slower in three runs), and V5's pixel tiles with taps in blocks of 48/96/192 so a block of weights
// stays in L1 across a pixel group (64 → 64 at 14 × 14, 128 → 128 at 7 × 7: within ±5%, no consistent sign).
// (3) Weight-grad off the stem (session 5): each part leaves its dWᵀ accumulator in place and one pass adds the parts
// and transposes the sum into dW (V5 transposed every part, then added the partial dWs: two more passes over
// parts × |dW|); a part's first pixels start its tiles from zero instead of a cleared accumulator. 7 × 7 (128 → 128),
// 2 threads: 2.83–3.37 → 2.71–3.06 ms (m1conv --versions V5Pixels,Best, three runs). Same bits as V6.
// Bits: stem forward outputs are one sum in a fixed order (bias, then ki, kj), whatever the image partition;
// stem weight-grad parts are image ranges fixed by N (at most 8), summed in part order; prefetches and store
// timing change no arithmetic. So 1 and 2 threads give the same bits (tests/Kernels/Conv2dTests.cs).
// Bench: dotnet run -c Release --project bench -- m1conv --threads 1 --cpu --versions V6Stem,V7
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    /// <summary>V7 runs the stem's forward as a stencil; every other shape with V6's tile (V5's or V4's), the next
    /// part's input prefetched.</summary>
    static void V7Forward(float* x, float* w, float* bias, float* y, in Conv2dProblem p)
    {
        if (V6StemFits(p)) V7StemForward(x, w, bias, y, p);
        else V3Forward(x, w, bias, y, p, V5Fits(p.CoutG, p) ? V5TileRows(p.CoutG) : V4TileRows(p.CoutG), prefetch: true);
    }

    /// <summary>V7's input-grad: V6's stencil for the stem, else V6's tile with the next part's gy prefetched. Strided
    /// maps run one implicit GEMM per output phase, each with few taps, and stay as V6 ran them ((32,28,32,3,2) lost
    /// 4–13% with the prefetches of every phase).</summary>
    static void V7InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p)
    {
        if (V6StemFits(p)) V6InputGrad(gy, w, bias, dx, p);
        else V3InputGrad(gy, w, bias, dx, p, V5Fits(p.CinG, p) ? V5TileRows(p.CinG) : V4TileRows(p.CinG),
            prefetch: p.Geo.SH == 1 && p.Geo.SW == 1);
    }

    // ───────────────────── next-part prefetch ─────────────────────

    /// <summary>Images of the part this thread most likely claims after <paramref name="part"/> (count 0 when there is
    /// none): the caller claims parts from the front and a worker from the back (WorkerPool.LikelyNextPart). Until
    /// session 5 this was part + threads, right for one shared claim counter but, after the pool's claim order
    /// changed, the other thread's next part on 2 threads: the caller prefetched the worker's input and the worker none.</summary>
    static (int N0, int Count) NextPartRange(int part, int parts, int N)
    {
        int next = WorkerPool.LikelyNextPart(part, parts);
        return next >= 0 ? WorkerPool.Range(N, parts, next) : (0, 0);
    }

    /// <summary>As <see cref="NextPartRange"/> for fixed batches of nb images.</summary>
    static (int N0, int Count) NextPartImages(int part, int parts, int nb, int N)
    {
        int next = WorkerPool.LikelyNextPart(part, parts);
        return next >= 0 ? (next * nb, Math.Min(nb, N - next * nb)) : (0, 0);
    }

    /// <summary>Prefetches a range of memory into L2 a few lines per <see cref="Step"/>, spread over a part's tiles, so
    /// the next part's lowering reads cache instead of DRAM (lowering a 28 × 28 batch was ~15% of its tiles' time,
    /// with the core's memory traffic idle while the tiles run).</summary>
    struct NextPartPrefetch
    {
        float* cur, end;
        int perStep;

        public static NextPartPrefetch ForImages(float* x, in Grid q, int N, (int N0, int Count) r, int steps)
        {
            long image = (long)q.C * q.H * q.W;
            float* start = x + r.N0 * image;
            long lines = (r.Count * image + 15) / 16;
            return new NextPartPrefetch { cur = start, end = start + r.Count * image, perStep = (int)Math.Max(1, (lines + steps - 1) / Math.Max(steps, 1)) };
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step()
        {
            for (int i = 0; i < perStep && cur < end; i++, cur += 16) Sse.Prefetch1(cur);
        }
    }

    // ───────────────────── weight-grad: parts summed in the accumulator layout ─────────────────────

    /// <summary>V7's weight-grad off the stem: V5's pixel tiles (next batch prefetched), each part leaving its dWᵀ
    /// accumulator where it is; one pass then adds the parts and transposes the sum into dW. V5 transposed every
    /// part's dWᵀ into a partial dW and then added the partials: two more passes over parts × |dW| (4 × 590 KB at
    /// 7 × 7, 128 → 128), and a clear of each accumulator, which now starts from zero on the part's first pixels.
    /// Same bits (each element still sums its part's pixels in order, then the parts in order).</summary>
    static void V7PixelWeightGrad(float* x, float* gy, float* dw, in Conv2dProblem p, int parts)
    {
        long len = DwtLength(p);
        float[] buffer = System.Buffers.ArrayPool<float>.Shared.Rent(checked((int)(parts * len + 16)));
        try
        {
            fixed (float* pb = buffer)
            {
                float* dwt = (float*)(((nint)pb + 63) & ~(nint)63);
                V5WeightGrad(x, gy, dwt, p, parts, prefetch: true, dwtParts: true);
                var job = new SumPartsTransposedJob(dwt, dw, p, parts, WorkerPool.PartsFor(parts * len, 1 << 14, 8));
                if (job.Ranges == 1) job.Execute(0); else WorkerPool.Run(job, job.Ranges);
            }
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(buffer); }
    }

    /// <summary>dW[g, f, k] = Σ_c dWᵀ_c[g, k, f], parts c in order, over ranges of 16-tap blocks: 16 rows of 16 filters
    /// summed in registers, then one 16 × 16 register transpose into dW; scalar tails.</summary>
    readonly struct SumPartsTransposedJob(float* dwt, float* dw, Conv2dProblem p, int parts, int ranges) : IParallelJob
    {
        public int Ranges => Math.Min(ranges, p.Groups * ((p.KG + 15) / 16));

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int r)
        {
            int ft = WeightGradTileFilters(p.CoutG), kt = ft == PxRows ? PxCols : 8;
            int K = p.KG, Fg = p.CoutG, Kpad = (K + kt - 1) / kt * kt, Fpad = (Fg + ft - 1) / ft * ft, F16 = Fg & ~15;
            int kBlocks = (K + 15) / 16;
            long len = DwtLength(p);
            var (b0, count) = WorkerPool.Range(p.Groups * kBlocks, Ranges, r);
            float* block = stackalloc float[256];
            for (int b = b0; b < b0 + count; b++)
            {
                int g = b / kBlocks, k0 = b % kBlocks * 16, kc = Math.Min(16, K - k0);
                float* s = dwt + (long)g * Kpad * Fpad + (long)k0 * Fpad, d = dw + (long)g * Fg * K + k0;
                int fVec = kc == 16 ? F16 : 0;
                for (int f0 = 0; f0 < fVec; f0 += 16)
                {
                    for (int t = 0; t < 16; t++)
                    {
                        float* a = s + (long)t * Fpad + f0;
                        var sum = Vector512.Load(a);
                        for (int c = 1; c < parts; c++) sum += Vector512.Load(a + c * len);
                        sum.Store(block + t * 16);
                    }
                    Transpose16.Run(block, 16, d + (long)f0 * K, K);
                }
                for (int f = fVec; f < Fg; f++)
                    for (int t = 0; t < kc; t++)
                    {
                        float* a = s + (long)t * Fpad + f;
                        float sum = a[0];
                        for (int c = 1; c < parts; c++) sum += a[c * len];
                        d[(long)f * K + t] = sum;
                    }
            }
        }
    }

    // ───────────────────── stem forward: a direct stencil ─────────────────────

    static void V7StemForward(float* x, float* w, float* bias, float* y, in Conv2dProblem p)
    {
        if (p.N == 0 || p.Geo.Hout <= 0 || p.Geo.Wout <= 0) return;
        // Images are independent and each output's order is fixed, so the part count may follow the threads.
        int parts = Math.Min(p.N, Math.Max(1, WorkerPool.Threads));
        var job = new StemForwardJob(x, w, bias, y, p, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    [ThreadStatic] static float[]? t_stemFwd;

    readonly struct StemForwardJob(float* x, float* w, float* bias, float* y, Conv2dProblem p, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var g = p.Geo;
            int H = g.H, W = g.W, Hout = g.Hout, Wout = g.Wout, P = Hout * Wout;
            int Hr = (Hout + StemRows - 1) / StemRows * StemRows, Wr = (Wout + StemCols - 1) / StemCols * StemCols;
            // Padded x plane: input (ih, iw) at row ih + PH, column iw + PW; output (oh, ow) reads rows oh … oh + 2 and
            // columns ow … ow + 2, so the last block reads up to row Hr + 1 and column Wr + 33.
            int Hp = Math.Max(Hr + 2, H + g.PH), Wp = (Math.Max(Wr + 2 + 16, W + g.PW) + 15) & ~15;
            int planeLen = Hp * Wp;
            if (t_stemFwd == null || t_stemFwd.Length < planeLen + 16)
                t_stemFwd = GC.AllocateUninitializedArray<float>(planeLen + 16, pinned: true);
            float* plane = (float*)(((nint)Unsafe.AsPointer(ref t_stemFwd[0]) + 63) & ~(nint)63);
            new Span<float>(plane, planeLen).Clear();
            var (n0, count) = WorkerPool.Range(p.N, parts, part);
            var lanes = Vector512<int>.Indices;
            for (int n = n0; n < n0 + count; n++)
            {
                // Only the interior is rewritten: the zero border stays zero across images.
                float* src = x + (long)n * H * W;
                for (int ih = 0; ih < H; ih++)
                    new ReadOnlySpan<float>(src + ih * W, W).CopyTo(new Span<float>(plane + (ih + g.PH) * Wp + g.PW, W));
                for (int co = 0; co < p.Cout; co++)
                {
                    float* yc = y + ((long)n * p.Cout + co) * P;
                    float b = bias == null ? 0f : bias[co];
                    for (int oh0 = 0; oh0 < Hout; oh0 += StemRows)
                        for (int c0 = 0; c0 < Wout; c0 += StemCols)
                        {
                            // Columns c0 … c0 + 31 of rows oh0 … oh0 + 3, masked to the output.
                            int n0c = Math.Min(16, Wout - c0), n1c = Math.Clamp(Wout - c0 - 16, 0, 16);
                            var m0 = Vector512.LessThan(lanes, Vector512.Create(n0c)).AsSingle();
                            var m1 = Vector512.LessThan(lanes, Vector512.Create(n1c)).AsSingle();
                            StemForwardBlock(plane + oh0 * Wp + c0, Wp, w + co * 9, b, yc + oh0 * Wout + c0, Wout,
                                Math.Min(StemRows, Hout - oh0), m0, m1);
                        }
                }
            }
        }
    }

    /// <summary>Output rows r &lt; rows (of 4) × 32 columns = bias + Σ_ki Σ_kj w[ki, kj] · plane[r + ki, c + kj],
    /// input row j (of 6) feeding output rows j − 2 … j with ki = j − r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void StemForwardBlock(float* g, int Wp, float* w, float b, float* y, int ldy, int rows,
        Vector512<float> m0, Vector512<float> m1)
    {
        var w00 = Vector512.Create(w[0]); var w01 = Vector512.Create(w[1]); var w02 = Vector512.Create(w[2]);
        var w10 = Vector512.Create(w[3]); var w11 = Vector512.Create(w[4]); var w12 = Vector512.Create(w[5]);
        var w20 = Vector512.Create(w[6]); var w21 = Vector512.Create(w[7]); var w22 = Vector512.Create(w[8]);
        var a00 = Vector512.Create(b); var a01 = a00; var a10 = a00; var a11 = a00;
        var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
        float* r = g;
        Vector512<float> l0, l1, s0, s1, t0, t1;
        // Row j at shifts kj = 0, 1, 2: (l, s, t).
        LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);                 // j = 0: row 0 (ki = 0)
        Tap3(ref a00, ref a01, w00, w01, w02, l0, l1, s0, s1, t0, t1);
        r += Wp; LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);       // j = 1: rows 0 (ki = 1), 1 (ki = 0)
        Tap3(ref a00, ref a01, w10, w11, w12, l0, l1, s0, s1, t0, t1);
        Tap3(ref a10, ref a11, w00, w01, w02, l0, l1, s0, s1, t0, t1);
        r += Wp; LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);       // j = 2: rows 0, 1, 2
        Tap3(ref a00, ref a01, w20, w21, w22, l0, l1, s0, s1, t0, t1);
        Tap3(ref a10, ref a11, w10, w11, w12, l0, l1, s0, s1, t0, t1);
        Tap3(ref a20, ref a21, w00, w01, w02, l0, l1, s0, s1, t0, t1);
        r += Wp; LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);       // j = 3: rows 1, 2, 3
        Tap3(ref a10, ref a11, w20, w21, w22, l0, l1, s0, s1, t0, t1);
        Tap3(ref a20, ref a21, w10, w11, w12, l0, l1, s0, s1, t0, t1);
        Tap3(ref a30, ref a31, w00, w01, w02, l0, l1, s0, s1, t0, t1);
        r += Wp; LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);       // j = 4: rows 2, 3
        Tap3(ref a20, ref a21, w20, w21, w22, l0, l1, s0, s1, t0, t1);
        Tap3(ref a30, ref a31, w10, w11, w12, l0, l1, s0, s1, t0, t1);
        r += Wp; LoadShifts(r, out l0, out l1, out s0, out s1, out t0, out t1);       // j = 5: row 3
        Tap3(ref a30, ref a31, w20, w21, w22, l0, l1, s0, s1, t0, t1);
        StoreRow(y, a00, a01, m0, m1);
        if (rows > 1) StoreRow(y + ldy, a10, a11, m0, m1);
        if (rows > 2) StoreRow(y + 2 * ldy, a20, a21, m0, m1);
        if (rows > 3) StoreRow(y + 3 * ldy, a30, a31, m0, m1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadShifts(float* r, out Vector512<float> l0, out Vector512<float> l1, out Vector512<float> s0,
        out Vector512<float> s1, out Vector512<float> t0, out Vector512<float> t1)
    {
        l0 = Vector512.Load(r); l1 = Vector512.Load(r + 16);
        s0 = Vector512.Load(r + 1); s1 = Vector512.Load(r + 17);
        t0 = Vector512.Load(r + 2); t1 = Vector512.Load(r + 18);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow(float* y, Vector512<float> a0, Vector512<float> a1, Vector512<float> m0, Vector512<float> m1)
    {
        Avx512F.MaskStore(y, m0, a0);
        Avx512F.MaskStore(y + 16, m1, a1);
    }

    // ───────────────────── stem weight-grad: a direct stencil ─────────────────────

    /// <summary>Parts of the stem weight-grad: image ranges, at most 8, a function of N alone (each keeps a partial dW).</summary>
    static int V7StemWeightGradParts(in Conv2dProblem p) => Math.Clamp(p.N / 4, 1, 8);

    static void V7StemWeightGrad(float* x, float* gy, float* dwOrPartials, in Conv2dProblem p, int parts)
    {
        var job = new StemWeightGradJob(x, gy, dwOrPartials, p, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    [ThreadStatic] static float[]? t_stemDw;

    /// <summary>dW[co, ki, kj] = Σ_n Σ_(oh, ow) gy[n, co, oh, ow] · xpad[n, oh + ki, ow + kj] over one image range: the
    /// image in an L1 plane (as the forward's), 9 vector accumulators per filter (lanes = columns mod 16) kept in
    /// an L1 buffer across images and summed horizontally once per part.</summary>
    readonly struct StemWeightGradJob(float* x, float* gy, float* dwParts, Conv2dProblem p, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var g = p.Geo;
            int H = g.H, W = g.W, Hout = g.Hout, Wout = g.Wout, P = Hout * Wout, F = p.Cout;
            int Hr = (Hout + StemRows - 1) / StemRows * StemRows, Wr = (Wout + 15) & ~15;
            // Plane as the forward's: input (ih, iw) at row ih + PH, column iw + PW; reads reach row Hr + 1, column Wr + 17.
            int Hp = Math.Max(Hr + 2, H + g.PH), Wp = (Math.Max(Wr + 2 + 16, W + g.PW) + 15) & ~15;
            int planeLen = Hp * Wp, accLen = F * 9 * 16;
            if (t_stemDw == null || t_stemDw.Length < planeLen + accLen + 32)
                t_stemDw = GC.AllocateUninitializedArray<float>(planeLen + accLen + 32, pinned: true);
            float* plane = (float*)(((nint)Unsafe.AsPointer(ref t_stemDw[0]) + 63) & ~(nint)63);
            float* acc = (float*)(((nint)(plane + planeLen) + 63) & ~(nint)63);
            new Span<float>(plane, planeLen).Clear();
            new Span<float>(acc, accLen).Clear();
            var (n0, count) = WorkerPool.Range(p.N, parts, part);
            var lanes = Vector512<int>.Indices;
            for (int n = n0; n < n0 + count; n++)
            {
                float* src = x + (long)n * H * W;
                for (int ih = 0; ih < H; ih++)
                    new ReadOnlySpan<float>(src + ih * W, W).CopyTo(new Span<float>(plane + (ih + g.PH) * Wp + g.PW, W));
                for (int co = 0; co < F; co++)
                {
                    float* gc = gy + ((long)n * F + co) * P;
                    for (int c0 = 0; c0 < Wout; c0 += 16)
                    {
                        var m = Vector512.LessThan(lanes, Vector512.Create(Wout - c0)).AsSingle();
                        StemWeightGradColumn(plane + c0, Wp, gc + c0, Wout, Hout, m, acc + co * 9 * 16);
                    }
                }
            }
            float* dw = dwParts + (long)part * p.WeightLength;
            for (int t = 0; t < F * 9; t++) dw[t] = Vector512.Sum(Vector512.Load(acc + t * 16));
        }
    }

    /// <summary>One 16-column strip of one filter over all output rows: acc[(ki·3 + kj)·16 + lane] += Σ_oh gy[oh, lane] ·
    /// plane[oh + ki, lane + kj], in blocks of 4 output rows (6 plane rows at 3 shifts: 18 loads, 4 gy loads, 36 FMAs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void StemWeightGradColumn(float* plane, int Wp, float* gy, int ldg, int Hout, Vector512<float> m, float* acc)
    {
        var a00 = Vector512.Load(acc); var a01 = Vector512.Load(acc + 16); var a02 = Vector512.Load(acc + 32);
        var a10 = Vector512.Load(acc + 48); var a11 = Vector512.Load(acc + 64); var a12 = Vector512.Load(acc + 80);
        var a20 = Vector512.Load(acc + 96); var a21 = Vector512.Load(acc + 112); var a22 = Vector512.Load(acc + 128);
        var zero = Vector512<float>.Zero;
        for (int oh0 = 0; oh0 < Hout; oh0 += StemRows)
        {
            // gy rows oh0 … oh0 + 3 (zero past Hout and past the strip's last column).
            float* gr = gy + (long)oh0 * ldg;
            var g0 = Avx512F.MaskLoad(gr, m, zero);
            var g1 = oh0 + 1 < Hout ? Avx512F.MaskLoad(gr + ldg, m, zero) : zero;
            var g2 = oh0 + 2 < Hout ? Avx512F.MaskLoad(gr + 2 * ldg, m, zero) : zero;
            var g3 = oh0 + 3 < Hout ? Avx512F.MaskLoad(gr + 3 * ldg, m, zero) : zero;
            // Plane row j feeds output rows oh0 + j − ki, ki = 0, 1, 2 (accumulators a[ki][kj]).
            float* r = plane + oh0 * Wp;
            Shifts3(r, out var v0, out var v1, out var v2);
            Dw3(ref a00, ref a01, ref a02, g0, v0, v1, v2);
            Shifts3(r + Wp, out v0, out v1, out v2);
            Dw3(ref a00, ref a01, ref a02, g1, v0, v1, v2); Dw3(ref a10, ref a11, ref a12, g0, v0, v1, v2);
            Shifts3(r + 2 * Wp, out v0, out v1, out v2);
            Dw3(ref a00, ref a01, ref a02, g2, v0, v1, v2); Dw3(ref a10, ref a11, ref a12, g1, v0, v1, v2); Dw3(ref a20, ref a21, ref a22, g0, v0, v1, v2);
            Shifts3(r + 3 * Wp, out v0, out v1, out v2);
            Dw3(ref a00, ref a01, ref a02, g3, v0, v1, v2); Dw3(ref a10, ref a11, ref a12, g2, v0, v1, v2); Dw3(ref a20, ref a21, ref a22, g1, v0, v1, v2);
            Shifts3(r + 4 * Wp, out v0, out v1, out v2);
            Dw3(ref a10, ref a11, ref a12, g3, v0, v1, v2); Dw3(ref a20, ref a21, ref a22, g2, v0, v1, v2);
            Shifts3(r + 5 * Wp, out v0, out v1, out v2);
            Dw3(ref a20, ref a21, ref a22, g3, v0, v1, v2);
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32);
        a10.Store(acc + 48); a11.Store(acc + 64); a12.Store(acc + 80);
        a20.Store(acc + 96); a21.Store(acc + 112); a22.Store(acc + 128);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Shifts3(float* r, out Vector512<float> v0, out Vector512<float> v1, out Vector512<float> v2)
    {
        v0 = Vector512.Load(r); v1 = Vector512.Load(r + 1); v2 = Vector512.Load(r + 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Dw3(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, Vector512<float> g,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2)
    {
        a0 = Vector512.FusedMultiplyAdd(g, v0, a0); a1 = Vector512.FusedMultiplyAdd(g, v1, a1); a2 = Vector512.FusedMultiplyAdd(g, v2, a2);
    }
}
