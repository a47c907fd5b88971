// Conv2d.V4Shaped.cs — V3Implicit with its register tile and weight-grad route fitted to the shape.
//
// Why: V3 runs every map with one tile, 8 rows (filters, or input channels for input-grad) × 48
// columns. Where the GEMM's M is 1 — the stem's input gradient (Cin = 1), a head conv's forward
// (Cout = 1), the last transposed convolution of a generator (64 → 1) — seven of the eight rows are
// zero padding, so 7/8 of the FMAs are wasted (the K2 stem spent 2.4 ms of CPU time on a dx that is
// 29 MFLOP). V4 changes only the tile and the routing; the lowering, taps and store are V3's:
//   M < 4 (ThinMaxRows)  a thin tile, 1 row × 128 columns (8 zmm accumulators: one per FMA in
//                        flight at 2 pipes × 4 cycles), run once per row. It does one load per FMA
//                        instead of one per eight, so it is load-bound, but every FMA is useful.
//   weight-grad          V3's dot-product tiles reduce horizontally once per image batch; where a
//                        batch has few columns (7 × 7 maps with many channels) or on 1 × 1 at 7 × 7
//                        (no taps to share), V2Batched's GEMM (inner dimension nb·P, no horizontal
//                        sums) is faster (bench m1conv, bench/results/cpu-2026-11-23-conv.md):
//                        V4WeightGradVersion picks per shape.
// Bits: each output is still one dot product in k order, so the partition and thread count do not
// change them; 1 and 2 threads give the same bits (tests/Kernels/Conv2dTests.cs).
// Bench: dotnet run -c Release --project bench -- m1conv --threads 1 --cpu --versions V3Implicit,V4Shaped
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    /// <summary>GEMM rows (M) below which the thin 1 × 128 tile beats the 8 × 48 one: at M rows the thin
    /// tile does M·(1 load + 1 FMA) per 16 columns and k, the wide one 8 FMAs + 0.5 load whatever M is.</summary>
    const int ThinMaxRows = 3;

    static int V4TileRows(int M) => M <= ThinMaxRows ? 1 : TileM;

    static void V4Forward(float* x, float* w, float* bias, float* y, in Conv2dProblem p)
        => V3Forward(x, w, bias, y, p, V4TileRows(p.CoutG));

    static void V4InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p)
        => V3InputGrad(gy, w, bias, dx, p, V4TileRows(p.CinG));

    /// <summary>V3's weight-grad pays 24 horizontal sums per 4 × 6 tile and image batch; V2's GEMM pays
    /// packing, which is cheap against a long inner dimension K. So V2 wins where V3's batches are
    /// narrow and K is long (bench m1conv, both 375 columns per batch: (256,7,128,3), K = 2304, V3 23.5
    /// ms, V2 20.3; (64,14,64,3,2), K = 1024, V3 3.6, V2 3.8; (128,7,128,3), 768 columns, V3 8.7, V2 9.9).</summary>
    const int V3WeightGradMinColumns = 512, V2WeightGradMinK = 2048;

    /// <summary>The version V4 runs a weight gradient with: V2Batched for pointwise convolutions on maps of
    /// at most 8 × 8 pixels (V3 has no taps to share there: 0.64 vs 0.60 ms at (64,7,128,1), 3.1 vs 2.3 at
    /// (256,7,128,1)) and where V3's image batches are narrow and K long; V3Implicit otherwise.</summary>
    static Conv2dVersion V4WeightGradVersion(in Conv2dProblem p)
    {
        if (p.IsPointwise && p.P <= 64) return Conv2dVersion.V2Batched;
        var q = Grid.Forward(p.Geo);
        int nb = V3BatchImages(p.N, q);
        return q.Columns(nb) < V3WeightGradMinColumns && p.KG >= V2WeightGradMinK ? Conv2dVersion.V2Batched : Conv2dVersion.V3Implicit;
    }

    /// <summary>c (1 × 128) = Σ_k a[k] · b[k] (128 columns at src + off[k]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile1x128(int K, float* a, float* src, int* off, float* c)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int k = 0; k < K; k++)
        {
            float* b = src + off[k];
            var x = Vector512.Create(a[k]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
            c2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 32), c2);
            c3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 48), c3);
            c4 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 64), c4);
            c5 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 80), c5);
            c6 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 96), c6);
            c7 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 112), c7);
        }
        c0.Store(c); c1.Store(c + 16); c2.Store(c + 32); c3.Store(c + 48);
        c4.Store(c + 64); c5.Store(c + 80); c6.Store(c + 96); c7.Store(c + 112);
    }
}
