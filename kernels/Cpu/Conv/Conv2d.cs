// Conv2d.cs — the three linear maps of a 2-D convolution over a batch, on raw spans:
//   Forward     y  (N, Cout, Hout, Wout) = x ⋆ w
//   InputGrad   dx (N, Cin, H, W)        = convᵀ(gy, w)          (also the transposed convolution)
//   WeightGrad  dw (Cout, Cin/G, KH, KW) = Σₙ gy[n] · im2col(x[n])ᵀ
// Math: im2col lowering (Chellapilla, Puri & Simard, 2006). For one image and group g
// (K = Cin/G·KH·KW, P = Hout·Wout):  Y[g] (Fg, P) = W[g] (Fg, K) · col[g] (K, P);
// col[g] = W[g]ᵀ · G[g] then Col2Im;  dW[g] += G[g] · col[g]ᵀ.
//
// Versions, each kept and tested against V0 (tests/Kernels/Conv2dTests.cs). K2 shape
// (64, 32, 28, 28) → 32, 3×3 pad 1, 2 threads, forward / forward+backward (ConvBench, same run):
//   V0PerImage  one im2col + one GEMM per image, images in sequence; the GEMM and the im2col
//               each thread themselves, so every image pays two Parallel.For fork/joins on a
//               skinny (M = Cout = 32) GEMM                                   ~25 / ~55 ms
//   V1Chunked   images split into contiguous chunks that run on the WorkerPool, one whole
//               image per thread at a time: im2col into a per-thread workspace, single-thread
//               GEMM, no fork/join inside an image. Forward and input-grad write disjoint images
//               (bits independent of the partition); weight-grad keeps one partial dW per chunk
//               (chunks fixed by N alone) and adds them in chunk order, so 1 and 2 threads give
//               the same bits.                                                  see ConvBench
//   V2Batched   V1, but a batch of images (≈ 768 columns) shares one im2col matrix and one GEMM,
//               so 14×14 and 7×7 maps no longer run 196- or 49-column GEMMs (mostly edge tiles)
//               (Conv2d.V2Batched.cs). M1's 57 conv maps, 1 thread, CPU ms (bench m1conv; the
//               transposed-B pack of GEMM V2 became a 16×16 register transpose at the same time):
//               fwd / input / weight  V1 402 / 402 / 381 → V2 310 / 258 / 355
//   V3Implicit  implicit GEMM (Conv2d.V3Implicit.cs): the input is copied once into a padded,
//               phase-split grid in which every im2col row is a contiguous run at a per-tap offset,
//               so the 8×48 register tile reads it in place (no col matrix, no packing, no
//               gather/scatter); bias fused into the store; input-grad by output phase (polyphase
//               transposed convolution), weight-grad as 4×6 dot-product tiles over the grid.
//               M1's conv maps, same command, same session (machine load ≈ 17):
//               fwd / input / weight  V2 330 / 270 / 368 = 968 → V3 191 / 192 / 259 = 642
//   V4Shaped    V3 with the tile fitted to the shape (Conv2d.V4Shaped.cs): a 1-row × 128-column tile
//               where the GEMM has fewer than 4 rows (stem dx with Cin = 1, head forward with Cout = 1,
//               a generator's 64 → 1 transposed conv), and weight-grad routed to V2 where V3's is
//               slower (1 × 1 on 7 × 7; narrow batches with long K). Same lowering (rows now one
//               masked load/store per 16 columns), bias fused into input-grad too (transposed conv).
//               Stem (1,28,32) input-grad 2.75 → 1.3 ms, head (32,28,1) forward 1.5–1.7 → 0.8 ms
//               (1 thread, CPU ms; bench/results/cpu-2026-11-23-conv.md)
//   V5Pixels    V4 with the implicit GEMM's columns a list of valid output pixels (Conv2d.V5Pixels.cs):
//               a 64-filter × 6-pixel tile broadcasts the input at six arbitrary grid columns, so the
//               grid's padding columns (64 per 49 outputs at 7 × 7) are never computed; weight-grad is
//               an outer product over valid pixels (64 × 6 or 32 × 8 tiles, no horizontal sums); parts
//               are near-equal image ranges in multiples of 4 (2-thread balance). The version-less entry
//               points pick V5 or V4 per shape and map (BestForward/BestInputGrad/BestWeightGrad).
//               M1's conv maps, 1 thread, CPU ms (m1conv --versions V4Shaped,Best, same run):
//               fwd / input / weight  V4 209 / 207 / 294 = 709 → routed 192 / 192 / 247 = 631
//               (7 × 7 (128 → 128) 140 / 140 / 102 → 166 / 169 / 123 GFLOP/s;
//               bench/results/cpu-2026-11-23-conv2.md)
//   V6Stem      V5's routing plus a direct stencil for the input-grad of a Cin = 1, 3 × 3, stride-1
//               convolution (the stem; Conv2d.V6Stem.cs): 4 dx rows × 32 columns per register block, one
//               gy row at three shifts feeding three dx rows, weights in registers. Stem (1,28,32) input
//               2.20 → 0.51 ms (m1conv --shapes 0 --threads 1 --cpu --versions V4Shaped,V6Stem)
//   V7          V6 plus direct stencils for the stem's forward and weight-grad (Conv2d.V7.cs): the one-channel
//               image in an L1 plane, 9 weights (forward) or 9 tap accumulators (weight-grad) in registers;
//               elsewhere V6's tiles with the next part's input prefetched into L2 and each 8 × 48 tile
//               stored one tile later, its output lines prefetched. Stem (1,28,32), 1 thread, CPU ms:
//               forward 0.64 → 0.29, weight 0.65 → 0.47 (m1conv --shapes 0 --versions V6Stem,V7); M1's maps
//               0.92–0.97 of V6 at 28 × 28, ~1.0 at 14 × 14 and 7 × 7
//   V8Winograd  V7 plus Winograd F(2 × 2, 3 × 3) for the forward and input-grad of 3 × 3 stride-1 maps (Conv2d.V8Winograd.cs):
//               2.25× fewer multiply-adds, input and output transforms channel-last, the 16 per-element GEMMs on V5's
//               64 × 6 tile (or a 32 × 12 one); weight-grad as F(3 × 3, 2 × 2), the per-ξ GEMMs reduced over tiles on V5's
//               weight-grad tiles. M1's 3 × 3 maps, 2 threads, wall ms (m1conv --versions V7,V8Winograd), forward / weight:
//               14 × 14 (64 → 64) 3.22 → 1.96 / 2.43 → 1.40, 7 × 7 (128 → 128) 3.50 → 2.62 / 2.46 → 1.91, 28 × 28 (32 → 32)
//               3.03 → 2.00 / 2.75 → 1.79
//                                                                                                   (current)
// Every helper with a loop that a pass runs (lowering, tap tables, packing, transposes, part jobs, the bias
// sum) is compiled fully optimised on its first call: under tiered compilation a K2 benchmark (22 calls of a
// few ms) ran inside the 100 ms call-counting delay, so PlaneSum, LowerRow and the 16 × 16 transposes ran as
// tier-0 code with Vector512 calls not inlined (perf: Vector512.Load [QuickJitted] in the conv passes).
// A 1×1, stride-1, unpadded convolution skips im2col in V0–V2: the image viewed as (Cin, H·W) is
// its own col matrix (in V3 its grid is the image itself).
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Conv2d
// Bench: dotnet run -c Release --project bench -- --filter '*ConvVersionsBench*'
using System.Buffers;
using System.Runtime.CompilerServices;

namespace Denoise.Kernels.Cpu;

/// <summary>The convolution versions kept in the project, slowest to fastest.</summary>
public enum Conv2dVersion { V0PerImage, V1Chunked, V2Batched, V3Implicit, V4Shaped, V5Pixels, V6Stem, V7, V8Winograd }

/// <summary>A batched 2-D convolution: N images of geometry <paramref name="Geo"/>, Cout filters, Groups groups.</summary>
public readonly record struct Conv2dProblem(int N, Conv2dGeometry Geo, int Cout, int Groups = 1)
{
    public int Cin => Geo.C;
    public int P => Geo.Hout * Geo.Wout;
    public int HW => Geo.H * Geo.W;
    public int CinG => Geo.C / Groups;
    public int CoutG => Cout / Groups;
    /// <summary>GEMM inner dimension of one group: Cin/G · KH · KW.</summary>
    public int KG => CinG * Geo.KH * Geo.KW;
    public bool IsPointwise => Geo.KH == 1 && Geo.KW == 1 && Geo.SH == 1 && Geo.SW == 1 && Geo.PH == 0 && Geo.PW == 0;
    public long InputLength => (long)N * Geo.C * HW;
    public long OutputLength => (long)N * Cout * P;
    public long WeightLength => (long)Cout * KG;
    /// <summary>Multiply-adds of one of the three maps.</summary>
    public long Macs => (long)N * Cout * P * KG;
}

public static unsafe partial class Conv2d
{
    /// <summary>The version every map falls back to where V5Pixels is not chosen (see <see cref="V6ForwardRoute"/>).</summary>
    public static Conv2dVersion Best => V3Supported ? Conv2dVersion.V4Shaped : Conv2dVersion.V2Batched;

    /// <summary>V5's 64-filter panels are full when the map's GEMM rows are a multiple of 64; below that V4's 8-row
    /// tile wastes less. On maps above 256 pixels V3's grid wastes little (7% at 28 × 28) and V5 only ties
    /// (bench m1conv, bench/results/cpu-2026-11-23-conv2.md).</summary>
    static bool V5Fits(int rows, in Conv2dProblem p) => V3Supported && rows % PxRows == 0 && p.P <= V5MaxPixels;
    const int V5MaxPixels = 256;

    /// <summary>V3–V5 need AVX-512; elsewhere they run V2Batched.</summary>
    static Conv2dVersion Supported(Conv2dVersion v) => v >= Conv2dVersion.V3Implicit && !V3Supported ? Conv2dVersion.V2Batched : v;

    /// <summary>The version <see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, in Conv2dProblem)"/> runs for p:
    /// V8 on AVX-512 — Winograd F(2 × 2, 3 × 3) where it fits (3 × 3 stride-1 maps, Conv2d.V8Winograd.cs), else V7 (the stem's
    /// stencil, else V6's route — V5's or V4's tile — with the next part's input prefetched).</summary>
    public static Conv2dVersion BestForward(in Conv2dProblem p) => V3Supported ? Conv2dVersion.V8Winograd : Best;

    /// <summary>What the routed forward ran before V7 (V6Stem has no forward kernel of its own).</summary>
    static Conv2dVersion V6ForwardRoute(in Conv2dProblem p) => V5Fits(p.CoutG, p) ? Conv2dVersion.V5Pixels : Best;

    /// <summary>The version <see cref="InputGrad(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, in Conv2dProblem)"/> runs for p:
    /// V8 on AVX-512 — Winograd where it fits, else V7 (V6's stencil for the stem, else V6's route with the next part's gy
    /// prefetched).</summary>
    public static Conv2dVersion BestInputGrad(in Conv2dProblem p) => V3Supported ? Conv2dVersion.V8Winograd : Best;

    /// <summary>V6Stem has its own kernel only for the stem's input-grad (<see cref="V6StemFits"/>); every other
    /// map and shape runs what the routed entry points would have run before it (V5Pixels or V4Shaped).</summary>
    static Conv2dVersion V6Route(Conv2dVersion v, Conv2dVersion before) => v == Conv2dVersion.V6Stem ? before : v;

    /// <summary>V7's weight-grad (Conv2d.V7.cs) off the stem is V6's route (V5's with the next batch prefetched).</summary>
    static Conv2dVersion WeightGradRoute(Conv2dVersion v, in Conv2dProblem p) =>
        v == Conv2dVersion.V6Stem || v == Conv2dVersion.V7 ? V6WeightGradRoute(p) : v;

    static Conv2dVersion V5InputGradRoute(in Conv2dProblem p) => V5Fits(p.CinG, p) ? Conv2dVersion.V5Pixels : Best;

    /// <summary>The version <see cref="WeightGrad(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, in Conv2dProblem)"/> runs
    /// for p: V8 on AVX-512 — Winograd F(3 × 3, 2 × 2) where it fits, else V7 (the stem's stencil, else
    /// <see cref="V6WeightGradRoute"/> with V5's next batch prefetched).</summary>
    public static Conv2dVersion BestWeightGrad(in Conv2dProblem p) => V3Supported ? Conv2dVersion.V8Winograd : Best;

    /// <summary>V6's weight-grad: V5's outer-product tiles win at every map size where their filter panels (32 or 64) are full (no
    /// horizontal sums, no padding columns; 28 × 28 (64 → 64) 105 → 133 GFLOP/s, (32 → 32) 83–113 → 137), but not
    /// on the stem's K = 9 (taps padded to 16).</summary>
    static Conv2dVersion V6WeightGradRoute(in Conv2dProblem p) =>
        V3Supported && p.CoutG % 32 == 0 && p.KG >= V5WeightGradMinK ? Conv2dVersion.V5Pixels : Best;
    const int V5WeightGradMinK = 64;

    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, in Conv2dProblem p)
        => Forward(BestForward(p), x, w, y, p);

    /// <summary>y = x ⋆ w + bias (bias: Cout values, added per output channel; fused into the store in V3).</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, in Conv2dProblem p)
        => Forward(BestForward(p), x, w, bias, y, p);

    public static void InputGrad(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> dx, in Conv2dProblem p)
        => InputGrad(BestInputGrad(p), gy, w, dx, p);

    /// <summary>dx = convᵀ(gy, w) + bias (bias: Cin values, per dx channel): the transposed convolution with its bias.</summary>
    public static void InputGrad(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> dx, in Conv2dProblem p)
        => InputGrad(BestInputGrad(p), gy, w, bias, dx, p);

    public static void WeightGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> dw, in Conv2dProblem p)
        => WeightGrad(BestWeightGrad(p), x, gy, dw, p);

    /// <summary>Forward with a per-channel bias; versions before V3 add it in a second pass.</summary>
    public static void Forward(Conv2dVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, in Conv2dProblem p)
    {
        if (bias.IsEmpty) { Forward(v, x, w, y, p); return; }
        Check(p, bias.Length, p.Cout, "bias");
        v = Supported(V6Route(v, V6ForwardRoute(p)));
        if (v >= Conv2dVersion.V3Implicit)
        {
            Check(p, x.Length, p.InputLength, "x"); Check(p, w.Length, p.WeightLength, "w"); Check(p, y.Length, p.OutputLength, "y");
            fixed (float* px = x, pw = w, pb = bias, py = y)
                if (v == Conv2dVersion.V8Winograd) V8Forward(px, pw, pb, py, p);
                else if (v == Conv2dVersion.V7) V7Forward(px, pw, pb, py, p);
                else if (v == Conv2dVersion.V5Pixels) V5Forward(px, pw, pb, py, p);
                else if (v == Conv2dVersion.V4Shaped) V4Forward(px, pw, pb, py, p); else V3Forward(px, pw, pb, py, p);
            return;
        }
        Forward(v, x, w, y, p);
        AddChannelBias(y, bias, p.N, p.Cout, p.P);
    }

    /// <summary>Input gradient plus a per-dx-channel bias; V3 and V4 add it in the store, earlier versions in a second pass.</summary>
    public static void InputGrad(Conv2dVersion v, ReadOnlySpan<float> gy, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> dx, in Conv2dProblem p)
    {
        if (bias.IsEmpty) { InputGrad(v, gy, w, dx, p); return; }
        Check(p, bias.Length, p.Cin, "bias");
        v = Supported(v);
        if (v == Conv2dVersion.V6Stem && !V6StemFits(p)) v = V5InputGradRoute(p);
        if (v >= Conv2dVersion.V3Implicit)
        {
            Check(p, gy.Length, p.OutputLength, "gy"); Check(p, w.Length, p.WeightLength, "w"); Check(p, dx.Length, p.InputLength, "dx");
            fixed (float* pg = gy, pw = w, pb = bias, pd = dx)
                if (v == Conv2dVersion.V8Winograd) V8InputGrad(pg, pw, pb, pd, p);
                else if (v == Conv2dVersion.V7) V7InputGrad(pg, pw, pb, pd, p);
                else if (v == Conv2dVersion.V6Stem) V6InputGrad(pg, pw, pb, pd, p);
                else if (v == Conv2dVersion.V5Pixels) V5InputGrad(pg, pw, pb, pd, p);
                else if (v == Conv2dVersion.V4Shaped) V4InputGrad(pg, pw, pb, pd, p); else V3InputGrad(pg, pw, pb, pd, p);
            return;
        }
        InputGrad(v, gy, w, dx, p);
        AddChannelBias(dx, bias, p.N, p.Cin, p.HW);
    }

    static void AddChannelBias(Span<float> t, ReadOnlySpan<float> bias, int N, int C, int plane)
    {
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
            {
                var row = t.Slice((n * C + c) * plane, plane);
                System.Numerics.Tensors.TensorPrimitives.Add(row, bias[c], row);
            }
    }

    public static void Forward(Conv2dVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, in Conv2dProblem p)
    {
        Check(p, x.Length, p.InputLength, "x"); Check(p, w.Length, p.WeightLength, "w"); Check(p, y.Length, p.OutputLength, "y");
        fixed (float* px = x, pw = w, py = y)
        {
            switch (Supported(V6Route(v, V6ForwardRoute(p))))
            {
                case Conv2dVersion.V8Winograd: V8Forward(px, pw, null, py, p); return;
                case Conv2dVersion.V7: V7Forward(px, pw, null, py, p); return;
                case Conv2dVersion.V0PerImage: V0Forward(px, pw, py, p); return;
                case Conv2dVersion.V2Batched: V2Forward(px, pw, py, p); return;
                case Conv2dVersion.V3Implicit: V3Forward(px, pw, null, py, p); return;
                case Conv2dVersion.V4Shaped: V4Forward(px, pw, null, py, p); return;
                case Conv2dVersion.V5Pixels: V5Forward(px, pw, null, py, p); return;
            }
            var job = new Job(JobKind.Forward, p, px, pw, py, ImageParts(p));
            RunJob(job);
        }
    }

    public static void InputGrad(Conv2dVersion v, ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> dx, in Conv2dProblem p)
    {
        Check(p, gy.Length, p.OutputLength, "gy"); Check(p, w.Length, p.WeightLength, "w"); Check(p, dx.Length, p.InputLength, "dx");
        fixed (float* pg = gy, pw = w, pd = dx)
        {
            v = Supported(v);
            if (v == Conv2dVersion.V6Stem && !V6StemFits(p)) v = V5InputGradRoute(p);
            switch (v)
            {
                case Conv2dVersion.V8Winograd: V8InputGrad(pg, pw, null, pd, p); return;
                case Conv2dVersion.V7: V7InputGrad(pg, pw, null, pd, p); return;
                case Conv2dVersion.V6Stem: V6InputGrad(pg, pw, null, pd, p); return;
                case Conv2dVersion.V0PerImage: V0InputGrad(pg, pw, pd, p); return;
                case Conv2dVersion.V2Batched: V2InputGrad(pg, pw, pd, p); return;
                case Conv2dVersion.V3Implicit: V3InputGrad(pg, pw, null, pd, p); return;
                case Conv2dVersion.V4Shaped: V4InputGrad(pg, pw, null, pd, p); return;
                case Conv2dVersion.V5Pixels: V5InputGrad(pg, pw, null, pd, p); return;
            }
            var job = new Job(JobKind.InputGrad, p, pg, pw, pd, ImageParts(p));
            RunJob(job);
        }
    }

    public static void WeightGrad(Conv2dVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> dw, in Conv2dProblem p)
    {
        Check(p, x.Length, p.InputLength, "x"); Check(p, gy.Length, p.OutputLength, "gy"); Check(p, dw.Length, p.WeightLength, "dw");
        if (p.N == 0) { dw[..(int)p.WeightLength].Clear(); return; }
        fixed (float* px = x, pg = gy, pd = dw)
        {
            if (v == Conv2dVersion.V0PerImage) { V0WeightGrad(px, pg, pd, p); return; }
            if (v == Conv2dVersion.V8Winograd)
            {
                if (V8WeightGradFits(p)) { V8WeightGrad(px, pg, pd, p); return; }
                v = Conv2dVersion.V7;
            }
            bool stem = v == Conv2dVersion.V7 && V6StemFits(p), prefetch = v == Conv2dVersion.V7;
            v = stem ? v : Supported(WeightGradRoute(v, p));
            if (v == Conv2dVersion.V4Shaped) v = V4WeightGradVersion(p);
            int nb = 1, len = (int)p.WeightLength;
            int parts = v switch
            {
                Conv2dVersion.V2Batched => V2WeightGradParts(p, out nb),
                Conv2dVersion.V3Implicit => V3WeightGradParts(p, out nb),
                Conv2dVersion.V5Pixels => V5WeightGradParts(p),
                Conv2dVersion.V7 => V7StemWeightGradParts(p),
                _ => ImageParts(p),
            };
            if (v == Conv2dVersion.V5Pixels && prefetch) { V7PixelWeightGrad(px, pg, pd, p, parts); return; }
            if (parts == 1)
            {
                if (v == Conv2dVersion.V7) V7StemWeightGrad(px, pg, pd, p, 1);
                else if (v == Conv2dVersion.V5Pixels) V5WeightGrad(px, pg, pd, p, 1, prefetch);
                else if (v == Conv2dVersion.V3Implicit) V3WeightGrad(px, pg, pd, p, nb, 1);
                else if (v == Conv2dVersion.V2Batched) V2WeightGrad(px, pg, pd, p, nb, 1);
                else RunJob(new Job(JobKind.WeightGrad, p, px, pg, pd, 1));
                return;
            }
            // One partial dW per chunk, then a fixed-order sum: the bits depend on N only.
            float[] partial = ArrayPool<float>.Shared.Rent(parts * len);
            try
            {
                fixed (float* pp = partial)
                {
                    if (v == Conv2dVersion.V7) V7StemWeightGrad(px, pg, pp, p, parts);
                    else if (v == Conv2dVersion.V5Pixels) V5WeightGrad(px, pg, pp, p, parts, prefetch);
                    else if (v == Conv2dVersion.V3Implicit) V3WeightGrad(px, pg, pp, p, nb, parts);
                    else if (v == Conv2dVersion.V2Batched) V2WeightGrad(px, pg, pp, p, nb, parts);
                    else RunJob(new Job(JobKind.WeightGrad, p, px, pg, pp, parts));
                    SumPartials(pp, pd, len, parts);
                }
            }
            finally { ArrayPool<float>.Shared.Return(partial); }
        }
    }

    /// <summary>dw = Σ_c partial[c] in part order, by element ranges on the worker pool: each element is summed in
    /// the same order whatever the range split, so the bits are the serial sum's. (Serial, the sum of 8 partials
    /// of a 128 → 128 3 × 3 dW, 4.7 MB, kept one core busy while the other waited.)</summary>
    static void SumPartials(float* partials, float* dw, int len, int parts)
    {
        var job = new SumPartialsJob(partials, dw, len, parts, WorkerPool.PartsFor(len, 1 << 14, 8));
        if (job.Ranges == 1) job.Execute(0); else WorkerPool.Run(job, job.Ranges);
    }

    readonly struct SumPartialsJob(float* partials, float* dw, int len, int parts, int ranges) : IParallelJob
    {
        public int Ranges => ranges;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int r)
        {
            var (i0, n) = WorkerPool.Range(len, ranges, r);
            float* sum = dw + i0;
            new ReadOnlySpan<float>(partials + i0, n).CopyTo(new Span<float>(sum, n));
            // Own loop rather than TensorPrimitives.Add: System.Numerics.Tensors is not precompiled, and within a
            // benchmark's first ~100 ms its Add ran as tier-0 code (perf, 7 × 7 (128 → 128) weight-grad). Element-wise
            // adds in part order: the same bits either way.
            for (int c = 1; c < parts; c++)
            {
                float* a = partials + (long)c * len + i0;
                int i = 0;
                for (; i + 16 <= n; i += 16) System.Runtime.Intrinsics.Vector512.Store(System.Runtime.Intrinsics.Vector512.Load(sum + i) + System.Runtime.Intrinsics.Vector512.Load(a + i), sum + i);
                for (; i < n; i++) sum[i] += a[i];
            }
        }
    }

    /// <summary>The bias gradient db[c] = Σₙ Σ_p gy[n, c, p] (gy: N × C planes of P). Each channel sums its planes
    /// (TensorPrimitives.Sum) in image order, so the bits do not depend on how channels are split over threads.
    /// (Through Tensor.SumTo over dims 0, 2, 3 the K2 stem's db took 1.1 ms of CPU time for 1.6 M floats, more
    /// than its dx or dW; this is one streaming pass.)</summary>
    public static void BiasGrad(ReadOnlySpan<float> gy, Span<float> db, int N, int C, int P)
    {
        long need = (long)N * C * P;
        if (gy.Length < need) throw new ArgumentException($"conv2d bias grad: gy has {gy.Length} elements, needs {need} for (N, C, P) = ({N}, {C}, {P})");
        if (db.Length < C) throw new ArgumentException($"conv2d bias grad: db has {db.Length} elements, needs C = {C}");
        fixed (float* pg = gy, pd = db)
        {
            var job = new BiasGradJob(pg, pd, N, C, P, WorkerPool.PartsFor(need, 1 << 16, Math.Min(C, 16)));
            if (job.Ranges <= 1) job.Execute(0); else WorkerPool.Run(job, job.Ranges);
        }
    }

    readonly struct BiasGradJob(float* gy, float* db, int N, int C, int P, int ranges) : IParallelJob
    {
        public int Ranges => ranges;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int r)
        {
            var (c0, count) = WorkerPool.Range(C, Math.Max(1, ranges), r);
            // Images outer so each image's channel range is one contiguous stream (channel-outer, a plane at a
            // time, was 1.9 ms on the stem: every 3 KB plane restarted the prefetcher); per channel the order is
            // still image order.
            new Span<float>(db + c0, count).Clear();
            for (int n = 0; n < N; n++)
                for (int c = c0; c < c0 + count; c++)
                    db[c] += PlaneSum(gy + ((long)n * C + c) * P, P);
        }
    }

    /// <summary>Σ of n floats in a fixed order. (TensorPrimitives.Sum took ~0.5 µs per 784-float plane, 1.0 ms
    /// over the stem's 2048 planes against 0.13 ms for one call over all of them.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float PlaneSum(float* a, int n)
    {
        var s0 = System.Runtime.Intrinsics.Vector512<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            s0 += System.Runtime.Intrinsics.Vector512.Load(a + i); s1 += System.Runtime.Intrinsics.Vector512.Load(a + i + 16);
            s2 += System.Runtime.Intrinsics.Vector512.Load(a + i + 32); s3 += System.Runtime.Intrinsics.Vector512.Load(a + i + 48);
        }
        for (; i + 16 <= n; i += 16) s0 += System.Runtime.Intrinsics.Vector512.Load(a + i);
        float s = System.Runtime.Intrinsics.Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < n; i++) s += a[i];
        return s;
    }

    // ───────────────────── V1: image chunks on the worker pool ─────────────────────

    // A chunk should carry at least ~2^22 multiply-adds (~20 µs on one core) so the pool's
    // hand-off is noise; at most 16 chunks, so weight-grad partials stay small.
    const long MinMacsPerPart = 1L << 22;

    /// <summary>Chunks of images; a function of the problem alone, never of the thread count.</summary>
    static int ImageParts(in Conv2dProblem p)
    {
        if (p.N <= 1) return 1;
        long perImage = Math.Max(1, p.Macs / p.N);
        return (int)Math.Clamp(p.Macs / Math.Max(MinMacsPerPart, perImage), 1, Math.Min(p.N, 16));
    }

    enum JobKind { Forward, InputGrad, WeightGrad }

    [ThreadStatic] static float[]? t_col;

    static float* ColWorkspace(in Conv2dProblem p)
    {
        int need = p.IsPointwise ? 0 : p.Geo.ColRows * p.P;
        if (t_col == null || t_col.Length < need) t_col = GC.AllocateUninitializedArray<float>(Math.Max(need, 16), pinned: true);
        return (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref t_col[0]);
    }

    /// <summary>Job over image chunks; a, b are the inputs and c the output (or per-chunk partials).</summary>
    readonly struct Job(JobKind kind, Conv2dProblem p, float* a, float* b, float* c, int parts) : IParallelJob
    {
        public int Parts => parts;

        public void Execute(int part)
        {
            var (n0, count) = WorkerPool.Range(p.N, parts, part);
            // A lone chunk may thread its GEMMs (bits do not depend on GEMM threads).
            int gemmThreads = parts == 1 ? Gemm.MaxThreads : 1;
            switch (kind)
            {
                case JobKind.Forward: ForwardImages(a, b, c, p, n0, count, gemmThreads); break;
                case JobKind.InputGrad: InputGradImages(a, b, c, p, n0, count, gemmThreads); break;
                default: WeightGradImages(a, b, c + (long)part * p.WeightLength, p, n0, count, gemmThreads); break;
            }
        }
    }

    static void RunJob(in Job job)
    {
        if (job.Parts == 1) job.Execute(0);
        else WorkerPool.Run(job, job.Parts);
    }

    static void ForwardImages(float* x, float* w, float* y, in Conv2dProblem p, int n0, int count, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float* col = ColWorkspace(p);
        for (int n = n0; n < n0 + count; n++)
        {
            float* xn = x + (long)n * inLen;
            float* cols = xn;
            if (!p.IsPointwise)
            {
                Conv2dIm2Col.Im2Col(new ReadOnlySpan<float>(xn, inLen), new Span<float>(col, p.Geo.ColRows * P), p.Geo);
                cols = col;
            }
            for (int g = 0; g < p.Groups; g++)
                Gemm.V2Packed(false, false, Fg, P, K, 1f,
                    new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                    new ReadOnlySpan<float>(cols + (long)g * K * P, K * P), P,
                    0f, new Span<float>(y + ((long)n * p.Cout + g * Fg) * P, Fg * P), P, threads);
        }
    }

    static void InputGradImages(float* gy, float* w, float* dx, in Conv2dProblem p, int n0, int count, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float* col = ColWorkspace(p);
        for (int n = n0; n < n0 + count; n++)
        {
            float* dxn = dx + (long)n * inLen;
            // Pointwise: P == H·W and the col rows are dx's channels, so the GEMM writes dx directly.
            float* cols = p.IsPointwise ? dxn : col;
            for (int g = 0; g < p.Groups; g++)
                Gemm.V2Packed(true, false, K, P, Fg, 1f,
                    new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                    new ReadOnlySpan<float>(gy + ((long)n * p.Cout + g * Fg) * P, Fg * P), P,
                    0f, new Span<float>(cols + (long)g * K * P, K * P), P, threads);
            if (!p.IsPointwise)
            {
                var image = new Span<float>(dxn, inLen);
                image.Clear();
                Conv2dIm2Col.Col2Im(new ReadOnlySpan<float>(col, p.Geo.ColRows * P), image, p.Geo);
            }
        }
    }

    static void WeightGradImages(float* x, float* gy, float* dw, in Conv2dProblem p, int n0, int count, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float* col = ColWorkspace(p);
        for (int n = n0; n < n0 + count; n++)
        {
            float* xn = x + (long)n * inLen;
            float* cols = xn;
            if (!p.IsPointwise)
            {
                Conv2dIm2Col.Im2Col(new ReadOnlySpan<float>(xn, inLen), new Span<float>(col, p.Geo.ColRows * P), p.Geo);
                cols = col;
            }
            // Images of the chunk accumulate in order (beta = 1 after the first).
            for (int g = 0; g < p.Groups; g++)
                Gemm.V2Packed(false, true, Fg, K, P, 1f,
                    new ReadOnlySpan<float>(gy + ((long)n * p.Cout + g * Fg) * P, Fg * P), P,
                    new ReadOnlySpan<float>(cols + (long)g * K * P, K * P), P,
                    n == n0 ? 0f : 1f, new Span<float>(dw + (long)g * Fg * K, Fg * K), K, threads);
        }
    }

    static void Check(in Conv2dProblem p, int length, long need, string name)
    {
        if (p.N < 0 || p.Cout < 1 || p.Groups < 1 || p.Geo.C % p.Groups != 0 || p.Cout % p.Groups != 0)
            throw new ArgumentException($"conv2d: invalid problem {p}");
        if (length < need) throw new ArgumentException($"conv2d: {name} has {length} elements, needs {need} for {p}");
    }
}
