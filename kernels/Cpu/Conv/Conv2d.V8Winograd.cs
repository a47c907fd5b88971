// Conv2d.V8Winograd.cs — V7 plus Winograd's minimal filtering for 3 × 3, stride-1 convolutions (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): F(2 × 2, 3 × 3) for the forward and input-grad, F(3 × 3, 2 × 2)
// for the weight-grad.
//
// Why: V5/V7's direct tiles run these maps at 80–90% of the FMA peak, level with PyTorch's oneDNN, and
// the FMAs are the bound. Winograd computes a 2 × 2 block of outputs from a 4 × 4 input patch with 16
// multiplies per (input, output) channel pair instead of 36, so the multiply-adds of a map drop 2.25×
// (less where the last tile row or column overhangs an odd map: 49 of 64 outputs used at 7 × 7).
// Per 2 × 2 output tile and channel pair, with d the 4 × 4 input patch and g the 3 × 3 kernel:
//   U = G g Gᵀ  (weights, once per call)     V = Bᵀ d B  (input, once per tile and channel)
//   Y = Aᵀ [ Σ_c U[c] ⊙ V[c] ] A             (16 independent GEMMs over channels, one per element ξ of the 4 × 4)
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// Per batch of images (its transformed input and products sized to stay in L2):
//   1. the images, transposed to channel-last with zero padding (TransposeCopy), so a tile's 4 × 4 patch is
//      16 contiguous channel vectors;
//   2. V[ξ][tile][c] = Bᵀ d B, 16 channels per vector, additions only;
//   3. for each ξ, M[ξ][tile][f] = Σ_c V[ξ][tile][c] · U[ξ][c][f]: V5's 64-filter × 6-column register tile
//      (Px64x6) with the "columns" six tiles, Cout in panels of 64 (32-filter × 12-tile panels, Px32x12, where
//      Cout is a multiple of 32 only);
//   4. Y = Aᵀ M A per tile, 16 filters per vector, plus the bias, channel-last (the overhang of odd maps dropped);
//      transposed back to NCHW.
// The input-grad of a stride-1 convolution is the same transform run on gy with the kernel flipped and its
// channels swapped (padding 2 − PH). The weight-grad is F(3 × 3, 2 × 2), the same trilinear form with filter and
// output swapped (below): V = Bᵀ d B again, gy's 2 × 2 blocks through A, a per-ξ GEMM reduced over tiles on V5's
// weight-grad tiles, and Gᵀ · G once after the parts are summed.
// M1's maps, 2 threads, wall ms, V7 → V8 (m1conv --rounds 5 --versions V7,V8Winograd; bench/results/
// cpu-2026-11-23-session5-final.md): forward / input / weight
//   (32,28,32)  2.79 → 1.76 / 2.80 → 1.85 / 2.72 → 1.89      (64,14,64)   2.41 → 1.53 / 2.50 → 1.53 / 2.44 → 1.52
//   (128,7,128) 2.58 → 2.19 / 2.51 → 2.15 / 2.61 → 2.11      (128,14,128) 9.66 → 5.69 / 9.81 → 5.82 / 9.94 → 5.62
//   all of M1's conv maps per step 251 → 182 ms. 7 × 7 gains least: its tiles overhang (49 of 64 outputs) and the
//   per-ξ GEMMs are short (K = Cin = 128).
// Tried: weight-grad batches of 2× and 8× the forward's (instead of 4×): 7 × 7 and 28 × 28 slower by 5–25%.
// Numerics: G's halves and the transforms' sums round differently from a direct sum of 9·Cin products; the
// error stays at the level of fp32 summation (tests compare with V0 at the same tolerance as the other versions,
// and bound the relative error of the forward and weight-grad against a double sum, non-cancelling inputs: < 2e-5).
// Bits: each forward / input-grad output is one fixed sequence of operations whatever the image partition; the
// weight-grad's parts are image ranges fixed by N, each summing its tiles in order, added in part order. So 1 and 2
// threads agree (tests/Kernels/Conv2dTests.cs).
// Routed (Conv2d.BestForward / BestInputGrad / BestWeightGrad) where it fits: 3 × 3, stride 1, dilation 1, one group, padding
// ≤ 2, the transformed conv's input channels a multiple of 16 and its output channels of 32; else V7.
// Bench: dotnet run -c Release --project bench -- m1conv --versions V7,V8Winograd
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    /// <summary>Whether V8's Winograd path runs the forward of p (else V7's).</summary>
    static bool V8ForwardFits(in Conv2dProblem p) => WinogradFits(p, p.Cin, p.Cout, p.Geo.PH, p.Geo.PW);

    /// <summary>Whether V8's Winograd path runs the input-grad of p: a forward conv of gy (Cout channels) to dx (Cin).</summary>
    static bool V8InputGradFits(in Conv2dProblem p) => WinogradFits(p, p.Cout, p.Cin, 2 - p.Geo.PH, 2 - p.Geo.PW);

    static bool WinogradFits(in Conv2dProblem p, int ci, int co, int ph, int pw)
    {
        var g = p.Geo;
        return V3Supported && p.Groups == 1 && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1
            && ph >= 0 && pw >= 0 && ph <= 2 && pw <= 2 && g.Hout >= 1 && g.Wout >= 1
            && ci % 16 == 0 && co % 32 == 0
            // One image's transformed input and products (a batch holds at least one) within 2^26 floats: the workspaces
            // are single arrays, and beyond that V7's tiles, which need no per-image buffer of this size, are the safer path.
            && 16L * ((Math.Max(g.H, g.Hout) + 1) / 2) * ((Math.Max(g.W, g.Wout) + 1) / 2) * (ci + co) <= 1L << 26
            && 16L * ci * co <= 1L << 26;   // the transformed weights, and each weight-grad part's accumulator
    }

    static void V8Forward(float* x, float* w, float* bias, float* y, in Conv2dProblem p)
    {
        if (!V8ForwardFits(p)) { V7Forward(x, w, bias, y, p); return; }
        var g = p.Geo;
        Winograd(new WinogradShape(p.N, p.Cin, g.H, g.W, p.Cout, g.PH, g.PW), x, w, adjoint: false, bias, y);
    }

    static void V8InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p)
    {
        if (!V8InputGradFits(p)) { V7InputGrad(gy, w, bias, dx, p); return; }
        var g = p.Geo;
        Winograd(new WinogradShape(p.N, p.Cout, g.Hout, g.Wout, p.Cin, 2 - g.PH, 2 - g.PW), gy, w, adjoint: true, bias, dx);
    }

    /// <summary>A 3 × 3 stride-1 convolution (N, Ci, H, W) → (N, Co, Ho, Wo), Ho = H + 2·PH − 2, in 2 × 2 output tiles.</summary>
    readonly record struct WinogradShape(int N, int Ci, int H, int W, int Co, int PH, int PW)
    {
        public int Ho => H + 2 * PH - 2;
        public int Wo => W + 2 * PW - 2;
        public int TilesH => (Ho + 1) / 2;
        public int TilesW => (Wo + 1) / 2;
        public int TilesPerImage => TilesH * TilesW;
        /// <summary>The channel-last padded image: rows and columns cover every tile's 4 × 4 patch.</summary>
        public int PaddedH => 2 * TilesH + 2;
        public int PaddedW => 2 * TilesW + 2;
        /// <summary>Filters per GEMM panel: 64 (Px64x6, six tiles per register tile) or, where Co is not a multiple of 64,
        /// 32 (Px32x12, twelve tiles): a 64-filter panel would pad a 32-channel map's GEMM with zeros to twice its work.</summary>
        public int PanelRows => Co % PxRows == 0 ? PxRows : 32;
        public int TileCols => PanelRows == PxRows ? PxCols : 12;
        public int Panels => Co / PanelRows;

        /// <summary>Images per batch: V (16 × tiles × Ci) and M (16 × tiles × Co) together near 512 KB, half of L2.</summary>
        public int BatchImages => Math.Clamp(WinogradBudgetFloats / (16 * TilesPerImage * (Ci + Co)), 1, Math.Max(1, N));
    }

    const int WinogradBudgetFloats = 128 * 1024;

    /// <param name="adjoint">false: w is (Co, Ci, 3, 3), the forward; true: w is (Ci, Co, 3, 3) of the forward conv
    /// whose input-grad this is, used flipped (the transposed convolution).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Winograd(in WinogradShape s, float* input, float* w, bool adjoint, float* bias, float* output)
    {
        if (s.N == 0) return;
        float* U = WinogradWeights(s, w, adjoint);
        int nb = s.BatchImages, batches = (s.N + nb - 1) / nb;
        int parts = Math.Min(batches, Math.Min(16, (batches + 3) / 4 * 4));
        var job = new WinogradJob(s, input, U, bias, output, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    [ThreadStatic] static float[]? t_winogradU;

    /// <summary>A 64-byte-aligned pointer to at least <paramref name="floats"/> floats of a thread's pinned buffer, grown
    /// on demand and kept (V8's per-thread workspaces: transformed weights, kernels, batch buffers).</summary>
    static float* Scratch(ref float[]? buffer, long floats)
    {
        if (buffer == null || buffer.Length < floats + 16) buffer = GC.AllocateUninitializedArray<float>(checked((int)(floats + 16)), pinned: true);
        return (float*)(((nint)Unsafe.AsPointer(ref buffer[0]) + 63) & ~(nint)63);
    }

    /// <summary>U[ξ][panel][c][f] = (G g Gᵀ)[ξ] for the kernel g of output channel panel·64 + f and input channel c, in
    /// Px64x6's packed-panel layout (64 filters per row, one row per input channel). Output channels split over the pool.</summary>
    static float* WinogradWeights(in WinogradShape s, float* w, bool adjoint)
    {
        long need = 16L * s.Co * s.Ci;
        float* U = Scratch(ref t_winogradU, need);
        var job = new WinogradWeightsJob(s, w, adjoint, U, WorkerPool.PartsFor((long)s.Co * s.Ci, 2048, 16));   // Co % 16 == 0 (routing)
        if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        return U;
    }

    [ThreadStatic] static float[]? t_winogradKernels;

    /// <summary>16 output channels at a time: their kernels transposed so that tap k of the 16 is one vector (forward: one
    /// TransposeCopy of the 16 rows of w; adjoint: a 16 × 9 block per input channel), G g Gᵀ in vectors, and each ξ
    /// stored as 16 contiguous floats of the panel. (Per (o, c) in scalars, the 16 stores of a kernel went to 16 planes
    /// 64 KB apart: 14% of a 7 × 7 (128 → 128) forward.) Same arithmetic per lane as a scalar loop.</summary>
    readonly struct WinogradWeightsJob(WinogradShape s, float* w, bool adjoint, float* U, int parts) : IParallelJob
    {
        public int Parts => Math.Min(parts, s.Co / 16);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var (b0, count) = WorkerPool.Range(s.Co / 16, Parts, part);
            int K9 = s.Ci * 9, pr = s.PanelRows;
            long plane = (long)s.Co * s.Ci;   // floats per ξ
            long need = adjoint ? 9 * 16 : (long)K9 * 16;
            float* T = Scratch(ref t_winogradKernels, need);
            var half = Vector512.Create(0.5f);
            for (int ob = b0; ob < b0 + count; ob++)
            {
                int o0 = ob * 16;
                // T[(c·9 + k)·16 + j] = tap k of the kernel from output o0 + j to input c.
                if (!adjoint) TransposeCopy.Run(w + (long)o0 * K9, K9, T, 16, 16, K9);
                for (int c = 0; c < s.Ci; c++)
                {
                    float* g = T + (long)c * 9 * 16;
                    if (adjoint)
                    {
                        // The forward's kernel from c to o0 + j, flipped: taps read in reverse below.
                        TransposeCopy.Run(w + ((long)c * s.Co + o0) * 9, 9, T, 16, 16, 9);
                        g = T;
                    }
                    int k0 = adjoint ? 8 : 0, dk = adjoint ? -16 : 16;
                    float* gp = g + k0 * 16;
                    var g0 = Vector512.Load(gp); var g1 = Vector512.Load(gp + dk); var g2 = Vector512.Load(gp + 2 * dk);
                    var g3 = Vector512.Load(gp + 3 * dk); var g4 = Vector512.Load(gp + 4 * dk); var g5 = Vector512.Load(gp + 5 * dk);
                    var g6 = Vector512.Load(gp + 6 * dk); var g7 = Vector512.Load(gp + 7 * dk); var g8 = Vector512.Load(gp + 8 * dk);
                    // Rows: h = G g (4 × 3), then columns: u = h Gᵀ (4 × 4).
                    float* u = U + ((long)(o0 / pr) * s.Ci + c) * pr + o0 % pr;
                    Row(u, plane, 0, g0, g1, g2, half);
                    Row(u, plane, 1, half * (g0 + g3 + g6), half * (g1 + g4 + g7), half * (g2 + g5 + g8), half);
                    Row(u, plane, 2, half * (g0 - g3 + g6), half * (g1 - g4 + g7), half * (g2 - g5 + g8), half);
                    Row(u, plane, 3, g6, g7, g8, half);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Row(float* u, long plane, int r, Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> half)
        {
            a.Store(u + (4 * r + 0) * plane);
            (half * (a + b + c)).Store(u + (4 * r + 1) * plane);
            (half * (a - b + c)).Store(u + (4 * r + 2) * plane);
            c.Store(u + (4 * r + 3) * plane);
        }
    }

    [ThreadStatic] static float[]? t_winogradWork;
    [ThreadStatic] static int[]? t_winogradOff;

    readonly struct WinogradJob(WinogradShape s, float* input, float* U, float* bias, float* output, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var (n0, count) = WorkerPool.Range(s.N, parts, part);
            int nb = s.BatchImages, tpi = s.TilesPerImage;
            int pr = s.PanelRows, cols = s.TileCols;
            int Tmax = nb * tpi, TmaxPad = (Tmax + cols - 1) / cols * cols;
            long imageP = (long)s.PaddedH * s.PaddedW * s.Ci, imageY = (long)s.Ho * s.Wo * s.Co;
            long xLen = nb * imageP, vLen = 16L * Tmax * s.Ci, mLen = 16L * TmaxPad * s.Co, yLen = Math.Max(nb * imageY, (long)s.H * s.W * s.Ci);
            long need = xLen + vLen + mLen + yLen;
            float* X = Scratch(ref t_winogradWork, need);
            float* V = X + xLen, M = V + vLen, Y = M + mLen;
            if (t_winogradOff == null || t_winogradOff.Length < s.Ci) t_winogradOff = GC.AllocateUninitializedArray<int>(s.Ci, pinned: true);
            int* off = (int*)Unsafe.AsPointer(ref t_winogradOff[0]);
            for (int c = 0; c < s.Ci; c++) off[c] = c;
            int* Q = stackalloc int[12];
            for (int b0 = n0; b0 < n0 + count; b0 += nb)
            {
                int images = Math.Min(nb, n0 + count - b0), T = images * tpi, Tpad = (T + cols - 1) / cols * cols;
                PadChannelLast(s, input, X, Y, b0, images, imageP);
                TransformInput(s, X, V, T, imageP);
                // 16 GEMMs (one per ξ), each Co × T over Ci: V5's 64 × 6 register tile (or 32 × 12), tiles as its columns.
                for (int xi = 0; xi < 16; xi++)
                    for (int pi = 0; pi < s.Panels; pi++)
                    {
                        float* a = U + ((long)xi * s.Panels + pi) * s.Ci * pr, v = V + (long)xi * T * s.Ci;
                        float* m = M + ((long)xi * s.Panels + pi) * Tpad * pr;
                        for (int t0 = 0; t0 < T; t0 += cols)
                        {
                            // The last group's missing tiles repeat the last tile; their rows of M are never read.
                            for (int j = 0; j < cols; j++) Q[j] = Math.Min(t0 + j, T - 1) * s.Ci;
                            if (pr == PxRows) Px64x6(s.Ci, a, v, off, Q, m + (long)t0 * pr);
                            else Px32x12(s.Ci, a, v, off, Q, m + (long)t0 * pr);
                        }
                    }
                TransformOutput(M, Y, T, Tpad);
                // Channel-last (Ho·Wo × Co) → the image's Co planes, one transposed copy per image.
                int HWo = s.Ho * s.Wo;
                for (int i = 0; i < images; i++)
                    TransposeCopy.Run(Y + i * imageY, s.Co, output + (long)(b0 + i) * s.Co * HWo, HWo, HWo, s.Co);
            }
        }

        /// <summary>Images b0 … b0+count−1 into zero-padded channel-last planes: pixel (y, x) at ((y + PH)·PaddedW + x + PW)·Ci.
        /// Each image is transposed whole into <paramref name="dense"/> (H·W × Ci: 16 × 16 register tiles; per row, a 7- or
        /// 14-pixel row is narrower than one tile), then copied row by row into the padded plane.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void PadChannelLast(in WinogradShape s, float* input, float* X, float* dense, int b0, int count, long imageP)
        {
            new Span<float>(X, (int)(count * imageP)).Clear();
            int HW = s.H * s.W, rowLen = s.W * s.Ci;
            for (int i = 0; i < count; i++)
            {
                TransposeCopy.Run(input + (long)(b0 + i) * s.Ci * HW, HW, dense, s.Ci, s.Ci, HW);
                for (int r = 0; r < s.H; r++)
                    new ReadOnlySpan<float>(dense + (long)r * rowLen, rowLen)
                        .CopyTo(new Span<float>(X + i * imageP + ((long)(r + s.PH) * s.PaddedW + s.PW) * s.Ci, rowLen));
            }
        }

        /// <summary>V[ξ][t][c] = (Bᵀ d B)[ξ] for the 4 × 4 patch d of tile t, 16 channels at a time.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void TransformInput(in WinogradShape s, float* X, float* V, int T, long imageP)
        {
            int tpi = s.TilesPerImage, Ci = s.Ci;
            long row = (long)s.PaddedW * Ci, plane = (long)T * Ci;
            for (int t = 0; t < T; t++)
            {
                int img = t / tpi, ti = t % tpi / s.TilesW, tj = t % s.TilesW;
                float* d = X + img * imageP + 2 * ti * row + 2L * tj * Ci;
                float* v = V + (long)t * Ci;
                for (int c = 0; c < Ci; c += 16)
                {
                    // e = Bᵀ d: rows combined (row r of the patch is four channel vectors).
                    Vector512<float> e00, e01, e02, e03, e10, e11, e12, e13, e20, e21, e22, e23, e30, e31, e32, e33;
                    {
                        float* p0 = d + c, p1 = p0 + row, p2 = p1 + row, p3 = p2 + row;
                        var a0 = Vector512.Load(p0); var a1 = Vector512.Load(p0 + Ci); var a2 = Vector512.Load(p0 + 2 * Ci); var a3 = Vector512.Load(p0 + 3 * Ci);
                        var b0 = Vector512.Load(p1); var b1 = Vector512.Load(p1 + Ci); var b2 = Vector512.Load(p1 + 2 * Ci); var b3 = Vector512.Load(p1 + 3 * Ci);
                        var c0 = Vector512.Load(p2); var c1 = Vector512.Load(p2 + Ci); var c2 = Vector512.Load(p2 + 2 * Ci); var c3 = Vector512.Load(p2 + 3 * Ci);
                        var d0 = Vector512.Load(p3); var d1 = Vector512.Load(p3 + Ci); var d2 = Vector512.Load(p3 + 2 * Ci); var d3 = Vector512.Load(p3 + 3 * Ci);
                        e00 = a0 - c0; e01 = a1 - c1; e02 = a2 - c2; e03 = a3 - c3;
                        e10 = b0 + c0; e11 = b1 + c1; e12 = b2 + c2; e13 = b3 + c3;
                        e20 = c0 - b0; e21 = c1 - b1; e22 = c2 - b2; e23 = c3 - b3;
                        e30 = b0 - d0; e31 = b1 - d1; e32 = b2 - d2; e33 = b3 - d3;
                    }
                    // V = e B: columns combined the same way; element (r, q) is ξ = 4r + q.
                    float* o = v + c;
                    Columns(e00, e01, e02, e03, o, plane, 0); Columns(e10, e11, e12, e13, o, plane, 4);
                    Columns(e20, e21, e22, e23, o, plane, 8); Columns(e30, e31, e32, e33, o, plane, 12);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Columns(Vector512<float> e0, Vector512<float> e1, Vector512<float> e2, Vector512<float> e3, float* o, long plane, int xi)
        {
            (e0 - e2).Store(o + xi * plane);
            (e1 + e2).Store(o + (xi + 1) * plane);
            (e2 - e1).Store(o + (xi + 2) * plane);
            (e1 - e3).Store(o + (xi + 3) * plane);
        }

        /// <summary>Y[img][(2ti + a)·Wo + 2tj + b][f] = (Aᵀ m A)[a][b] + bias[f] for tile t, 16 filters at a time; outputs past
        /// Ho or Wo (the last tile row or column of an odd map) are dropped.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void TransformOutput(float* M, float* Y, int T, int Tpad)
        {
            int tpi = s.TilesPerImage, Co = s.Co;
            int pr = s.PanelRows;
            long plane = (long)s.Panels * Tpad * pr;   // floats per ξ
            long imageY = (long)s.Ho * s.Wo * Co;
            for (int t = 0; t < T; t++)
            {
                int img = t / tpi, ti = t % tpi / s.TilesW, tj = t % s.TilesW;
                bool row1 = 2 * ti + 1 < s.Ho, col1 = 2 * tj + 1 < s.Wo;
                float* y0 = Y + img * imageY + ((long)(2 * ti) * s.Wo + 2 * tj) * Co, y1 = y0 + (long)s.Wo * Co;
                for (int f = 0; f < Co; f += 16)
                {
                    float* m = M + ((long)(f / pr) * Tpad + t) * pr + f % pr;
                    var bv = bias == null ? Vector512<float>.Zero : Vector512.Load(bias + f);
                    // Rows: r0 = m0 + m1 + m2, r1 = m1 − m2 − m3 (m_k the k-th row of the 4 × 4, four ξ each).
                    var m0 = Vector512.Load(m); var m1 = Vector512.Load(m + plane); var m2 = Vector512.Load(m + 2 * plane); var m3 = Vector512.Load(m + 3 * plane);
                    var m4 = Vector512.Load(m + 4 * plane); var m5 = Vector512.Load(m + 5 * plane); var m6 = Vector512.Load(m + 6 * plane); var m7 = Vector512.Load(m + 7 * plane);
                    var m8 = Vector512.Load(m + 8 * plane); var m9 = Vector512.Load(m + 9 * plane); var m10 = Vector512.Load(m + 10 * plane); var m11 = Vector512.Load(m + 11 * plane);
                    var m12 = Vector512.Load(m + 12 * plane); var m13 = Vector512.Load(m + 13 * plane); var m14 = Vector512.Load(m + 14 * plane); var m15 = Vector512.Load(m + 15 * plane);
                    var r00 = m0 + m4 + m8; var r01 = m1 + m5 + m9; var r02 = m2 + m6 + m10; var r03 = m3 + m7 + m11;
                    var r10 = m4 - m8 - m12; var r11 = m5 - m9 - m13; var r12 = m6 - m10 - m14; var r13 = m7 - m11 - m15;
                    (bv + (r00 + r01 + r02)).Store(y0 + f);
                    if (col1) (bv + (r01 - r02 - r03)).Store(y0 + Co + f);
                    if (!row1) continue;
                    (bv + (r10 + r11 + r12)).Store(y1 + f);
                    if (col1) (bv + (r11 - r12 - r13)).Store(y1 + Co + f);
                }
            }
        }
    }

    /// <summary>c[j·32 + f] = Σ_k a[k·32 + f] · src[off[k] + Q[j]] for 12 columns j and 32 filters f: Px64x6's tile with
    /// its shape turned (2 weight loads and 12 broadcasts feed 24 FMAs), for 32-channel maps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Px32x12(int K, float* a, float* src, int* off, int* Q, float* c)
    {
        nint q0 = Q[0], q1 = Q[1], q2 = Q[2], q3 = Q[3], q4 = Q[4], q5 = Q[5], q6 = Q[6], q7 = Q[7], q8 = Q[8], q9 = Q[9], q10 = Q[10], q11 = Q[11];
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int k = 0; k < K; k++, a += 32)
        {
            float* b = src + off[k];
            var w0 = Vector512.Load(a); var w1 = Vector512.Load(a + 16);
            var x = Vector512.Create(b[q0]); c00 = Vector512.FusedMultiplyAdd(w0, x, c00); c01 = Vector512.FusedMultiplyAdd(w1, x, c01);
            x = Vector512.Create(b[q1]); c10 = Vector512.FusedMultiplyAdd(w0, x, c10); c11 = Vector512.FusedMultiplyAdd(w1, x, c11);
            x = Vector512.Create(b[q2]); c20 = Vector512.FusedMultiplyAdd(w0, x, c20); c21 = Vector512.FusedMultiplyAdd(w1, x, c21);
            x = Vector512.Create(b[q3]); c30 = Vector512.FusedMultiplyAdd(w0, x, c30); c31 = Vector512.FusedMultiplyAdd(w1, x, c31);
            x = Vector512.Create(b[q4]); c40 = Vector512.FusedMultiplyAdd(w0, x, c40); c41 = Vector512.FusedMultiplyAdd(w1, x, c41);
            x = Vector512.Create(b[q5]); c50 = Vector512.FusedMultiplyAdd(w0, x, c50); c51 = Vector512.FusedMultiplyAdd(w1, x, c51);
            x = Vector512.Create(b[q6]); c60 = Vector512.FusedMultiplyAdd(w0, x, c60); c61 = Vector512.FusedMultiplyAdd(w1, x, c61);
            x = Vector512.Create(b[q7]); c70 = Vector512.FusedMultiplyAdd(w0, x, c70); c71 = Vector512.FusedMultiplyAdd(w1, x, c71);
            x = Vector512.Create(b[q8]); c80 = Vector512.FusedMultiplyAdd(w0, x, c80); c81 = Vector512.FusedMultiplyAdd(w1, x, c81);
            x = Vector512.Create(b[q9]); c90 = Vector512.FusedMultiplyAdd(w0, x, c90); c91 = Vector512.FusedMultiplyAdd(w1, x, c91);
            x = Vector512.Create(b[q10]); ca0 = Vector512.FusedMultiplyAdd(w0, x, ca0); ca1 = Vector512.FusedMultiplyAdd(w1, x, ca1);
            x = Vector512.Create(b[q11]); cb0 = Vector512.FusedMultiplyAdd(w0, x, cb0); cb1 = Vector512.FusedMultiplyAdd(w1, x, cb1);
        }
        c00.Store(c); c01.Store(c + 16); c10.Store(c + 32); c11.Store(c + 48); c20.Store(c + 64); c21.Store(c + 80);
        c30.Store(c + 96); c31.Store(c + 112); c40.Store(c + 128); c41.Store(c + 144); c50.Store(c + 160); c51.Store(c + 176);
        c60.Store(c + 192); c61.Store(c + 208); c70.Store(c + 224); c71.Store(c + 240); c80.Store(c + 256); c81.Store(c + 272);
        c90.Store(c + 288); c91.Store(c + 304); ca0.Store(c + 320); ca1.Store(c + 336); cb0.Store(c + 352); cb1.Store(c + 368);
    }

    // ───────────────────── weight-grad: F(3 × 3, 2 × 2) ─────────────────────
    //
    // dW[f, c] (3 × 3) = Σ over images and 2 × 2 output tiles of the correlation of the tile's 4 × 4 input patch d with its
    // 2 × 2 block of gy: the same trilinear form as the forward's, with the filter and the output swapping roles, so
    //   dW = Gᵀ [ Σ_tiles (Bᵀ d B) ⊙ (A gy Aᵀ) ] G       (A = (Aᵀ)ᵀ, 4 × 2; Gᵀ 3 × 4)
    // V = Bᵀ d B is the forward's input transform; the sum over tiles is, per ξ, a Co × Ci GEMM reduced over tiles (V5's
    // weight-grad tiles, Dw64x6 / Dw32x8, with input channels as their "taps"); Gᵀ · G runs once, after the parts are added.

    /// <summary>Whether V8's Winograd path runs the weight-grad of p (the forward's shapes).</summary>
    static bool V8WeightGradFits(in Conv2dProblem p) => V8ForwardFits(p);

    /// <summary>Images per weight-grad batch: the forward's batch × this, so each tile-reduction call runs over more tiles
    /// (its 6 × 64 accumulator block is loaded and stored once per call).</summary>
    const int WinogradGradBatchScale = 4;

    static void V8WeightGrad(float* x, float* gy, float* dw, in Conv2dProblem p)
    {
        var g = p.Geo;
        var s = new WinogradShape(p.N, p.Cin, g.H, g.W, p.Cout, g.PH, g.PW);
        int nb = GradBatchImages(s), batches = (s.N + nb - 1) / nb, parts = Math.Min(batches, 4);
        long accLen = WinogradAccLength(s);
        float[] buffer = System.Buffers.ArrayPool<float>.Shared.Rent(checked((int)(parts * accLen + 16)));
        try
        {
            fixed (float* pb = buffer)
            {
                float* acc = (float*)(((nint)pb + 63) & ~(nint)63);
                var job = new WinogradWeightGradJob(s, x, gy, acc, parts);
                if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
                var sum = new WinogradWeightSumJob(s, acc, parts, dw, WorkerPool.PartsFor((long)parts * accLen, 1 << 15, 16));
                if (sum.Ranges == 1) sum.Execute(0); else WorkerPool.Run(sum, sum.Ranges);
            }
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(buffer); }
    }

    static int GradBatchImages(in WinogradShape s) => Math.Min(Math.Max(1, s.N), s.BatchImages * WinogradGradBatchScale);

    /// <summary>Input channels rounded up to whole weight-grad tiles (6 with 64-filter panels, 8 with 32).</summary>
    static int WinogradTaps(in WinogradShape s) => s.PanelRows == PxRows ? PxCols : 8;
    static int WinogradCiPad(in WinogradShape s) => (s.Ci + WinogradTaps(s) - 1) / WinogradTaps(s) * WinogradTaps(s);

    /// <summary>Floats of one part's accumulator M[ξ][c][f]: 16 × CiPad × Co (a multiple of 16: parts stay aligned).</summary>
    static long WinogradAccLength(in WinogradShape s) => 16L * WinogradCiPad(s) * s.Co;

    [ThreadStatic] static float[]? t_winogradGradWork;
    [ThreadStatic] static int[]? t_winogradGradIdx;

    readonly struct WinogradWeightGradJob(WinogradShape s, float* x, float* gy, float* accParts, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var (n0, count) = WorkerPool.Range(s.N, parts, part);
            int nb = GradBatchImages(s), tpi = s.TilesPerImage, Tmax = nb * tpi;
            int pr = s.PanelRows, kt = WinogradTaps(s), ciPad = WinogradCiPad(s);
            long imageP = (long)s.PaddedH * s.PaddedW * s.Ci;
            long xLen = nb * imageP, denseLen = Math.Max((long)s.H * s.W * s.Ci, (long)s.Ho * s.Wo * s.Co);
            long vLen = 16L * Tmax * s.Ci, gLen = 16L * Tmax * s.Co;
            long need = xLen + denseLen + vLen + gLen;
            float* X = Scratch(ref t_winogradGradWork, need);
            float* dense = X + xLen, V = dense + denseLen, GY = V + vLen;
            if (t_winogradGradIdx == null || t_winogradGradIdx.Length < Tmax + ciPad) t_winogradGradIdx = GC.AllocateUninitializedArray<int>(Tmax + ciPad, pinned: true);
            int* Q = (int*)Unsafe.AsPointer(ref t_winogradGradIdx[0]), off = Q + Tmax;
            // Channels past Ci (padding to whole tiles) repeat the last one; their accumulator rows are never read.
            for (int c = 0; c < ciPad; c++) off[c] = Math.Min(c, s.Ci - 1);
            for (int j = 0; j < Tmax; j++) Q[j] = j * s.Ci;
            float* acc = accParts + part * WinogradAccLength(s);
            for (int b0 = n0; b0 < n0 + count; b0 += nb)
            {
                int images = Math.Min(nb, n0 + count - b0), T = images * tpi;
                WinogradJob.PadChannelLast(s, x, X, dense, b0, images, imageP);
                WinogradJob.TransformInput(s, X, V, T, imageP);
                TransformGrad(gy, dense, GY, b0, images, T);
                // Per ξ: M[ξ][c][f] += Σ_t GY[ξ][t][f] · V[ξ][t][c], tiles in order; the part's first tiles start from zero.
                for (int xi = 0; xi < 16; xi++)
                {
                    float* v = V + (long)xi * T * s.Ci, gt = GY + (long)xi * T * s.Co, m = acc + (long)xi * ciPad * s.Co;
                    for (int f0 = 0; f0 < s.Co; f0 += pr)
                        for (int j0 = 0; j0 < T; j0 += PxChunk)
                        {
                            int cnt = Math.Min(PxChunk, T - j0);
                            bool first = b0 == n0 && j0 == 0;
                            for (int c0 = 0; c0 < ciPad; c0 += kt)
                                if (pr == PxRows) Dw64x6(cnt, gt + (long)j0 * s.Co + f0, s.Co, Q + j0, v, off + c0, m + (long)c0 * s.Co + f0, s.Co, first);
                                else Dw32x8(cnt, gt + (long)j0 * s.Co + f0, s.Co, Q + j0, v, off + c0, m + (long)c0 * s.Co + f0, s.Co, first);
                        }
                }
            }
        }

        /// <summary>GY[ξ][t][f] = (A g Aᵀ)[ξ] for the 2 × 2 block g of gy at tile t (outputs past Ho or Wo are zero),
        /// 16 filters at a time; each image's gy is first made channel-last (Ho·Wo × Co).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void TransformGrad(float* gy, float* dense, float* GY, int b0, int images, int T)
        {
            int tpi = s.TilesPerImage, Co = s.Co, HWo = s.Ho * s.Wo;
            long plane = (long)T * Co;
            for (int i = 0; i < images; i++)
            {
                TransposeCopy.Run(gy + (long)(b0 + i) * Co * HWo, HWo, dense, Co, Co, HWo);
                for (int tt = 0; tt < tpi; tt++)
                {
                    int ti = tt / s.TilesW, tj = tt % s.TilesW;
                    bool row1 = 2 * ti + 1 < s.Ho, col1 = 2 * tj + 1 < s.Wo;
                    float* g0 = dense + ((long)(2 * ti) * s.Wo + 2 * tj) * Co, g1 = g0 + (long)s.Wo * Co;
                    float* o = GY + (long)(i * tpi + tt) * Co;
                    for (int f = 0; f < Co; f += 16)
                    {
                        var a00 = Vector512.Load(g0 + f);
                        var a01 = col1 ? Vector512.Load(g0 + Co + f) : Vector512<float>.Zero;
                        var a10 = row1 ? Vector512.Load(g1 + f) : Vector512<float>.Zero;
                        var a11 = row1 && col1 ? Vector512.Load(g1 + Co + f) : Vector512<float>.Zero;
                        // Rows: h = A g (h0 = g0, h1 = g0 + g1, h2 = g0 − g1, h3 = −g1); then the same on columns.
                        Grad4(a00, a01, o + f, plane, 0);
                        Grad4(a00 + a10, a01 + a11, o + f, plane, 4);
                        Grad4(a00 - a10, a01 - a11, o + f, plane, 8);
                        Grad4(-a10, -a11, o + f, plane, 12);
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Grad4(Vector512<float> u0, Vector512<float> u1, float* o, long plane, int xi)
        {
            u0.Store(o + xi * plane);
            (u0 + u1).Store(o + (xi + 1) * plane);
            (u0 - u1).Store(o + (xi + 2) * plane);
            (-u1).Store(o + (xi + 3) * plane);
        }
    }

    /// <summary>dW[f, c] = Gᵀ (Σ_parts M_part[·][c][f]) G, parts added in order, over ranges of input channels; 16 filters
    /// per vector, the 3 × 3 results written out through a small transpose.</summary>
    readonly struct WinogradWeightSumJob(WinogradShape s, float* accParts, int parts, float* dw, int ranges) : IParallelJob
    {
        public int Ranges => Math.Min(ranges, s.Ci);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int r)
        {
            var (c0, count) = WorkerPool.Range(s.Ci, Ranges, r);
            int Co = s.Co, Ci = s.Ci;
            long accLen = WinogradAccLength(s), plane = (long)WinogradCiPad(s) * Co;
            float* m = stackalloc float[16 * 16];
            float* w9 = stackalloc float[9 * 16];
            for (int c = c0; c < c0 + count; c++)
                for (int f = 0; f < Co; f += 16)
                {
                    float* src = accParts + (long)c * Co + f;
                    for (int xi = 0; xi < 16; xi++)
                    {
                        var sum = Vector512.Load(src + xi * plane);
                        for (int q = 1; q < parts; q++) sum += Vector512.Load(src + q * accLen + xi * plane);
                        sum.Store(m + xi * 16);
                    }
                    // Rows: w0 = m0 + ½(m1 + m2), w1 = ½(m1 − m2), w2 = ½(m1 + m2) + m3 (m_r the r-th row of the 4 × 4).
                    var half = Vector512.Create(0.5f);
                    for (int col = 0; col < 4; col++)
                    {
                        var r0 = Vector512.Load(m + col * 16); var r1 = Vector512.Load(m + (4 + col) * 16);
                        var r2 = Vector512.Load(m + (8 + col) * 16); var r3 = Vector512.Load(m + (12 + col) * 16);
                        var s12 = half * (r1 + r2);
                        (r0 + s12).Store(m + col * 16);
                        (half * (r1 - r2)).Store(m + (4 + col) * 16);
                        (s12 + r3).Store(m + (8 + col) * 16);
                    }
                    // Columns, the same combination: row ki of the 3 × 3 from row ki of the 3 × 4.
                    for (int ki = 0; ki < 3; ki++)
                    {
                        var u0 = Vector512.Load(m + (4 * ki) * 16); var u1 = Vector512.Load(m + (4 * ki + 1) * 16);
                        var u2 = Vector512.Load(m + (4 * ki + 2) * 16); var u3 = Vector512.Load(m + (4 * ki + 3) * 16);
                        var s12 = half * (u1 + u2);
                        (u0 + s12).Store(w9 + (3 * ki) * 16);
                        (half * (u1 - u2)).Store(w9 + (3 * ki + 1) * 16);
                        (s12 + u3).Store(w9 + (3 * ki + 2) * 16);
                    }
                    for (int j = 0; j < 16; j++)
                    {
                        float* d = dw + ((long)(f + j) * Ci + c) * 9;
                        for (int k = 0; k < 9; k++) d[k] = w9[k * 16 + j];
                    }
                }
        }
    }
}
