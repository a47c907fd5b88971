// Conv2d.V2Batched.cs — V1's image chunks on the worker pool, but several images share one GEMM.
//
// Why: V1 runs one GEMM per image, so at M1's low resolutions the GEMM's N is P = Hout·Wout = 196
// or 49 columns — 3.06 or 0.77 of the 64-wide micro-tile, so most tiles are edge tiles (scalar
// merge, idle lanes), and the weight-grad GEMM has an inner dimension of only 49. Here a batch of
// nb images is lowered side by side into one col matrix (K × nb·P, row stride nb·P), so every GEMM
// has ≈ 768 or more columns whatever the resolution:
//   Forward     Ybuf (Cout × nb·P) = W · col;                  Ybuf scattered to y[n] (Cout × P)
//   InputGrad   colbuf = Wᵀ · Gbuf, Gbuf (Cout × nb·P) gathered from gy[n]; Col2Im per image
//   WeightGrad  dW += Gbuf · colᵀ  (inner dimension nb·P)
// The gather/scatter copies are O(Cout·P) per image against O(Cout·K·P) multiply-adds.
// Batches (nb) and parts are functions of the problem alone; forward and input-grad compute each
// output element with the same GEMM summation order as V1 (bits equal to V1's); weight-grad sums
// in batch order within a part and parts in order, so 1 and 2 threads give the same bits.
// See Conv2d.cs for the version table; tests: tests/Kernels/Conv2dTests.cs.
using System.Runtime.CompilerServices;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    /// <summary>Target GEMM width (columns = nb·P) of a batch; ≥ 12 micro-tiles of 64.</summary>
    const int BatchColumns = 768;

    /// <summary>Images per GEMM: enough for ~BatchColumns columns, never more than N.</summary>
    static int BatchImages(in Conv2dProblem p) => Math.Clamp((BatchColumns + p.P - 1) / Math.Max(p.P, 1), 1, Math.Max(p.N, 1));

    /// <summary>Parts of whole batches: V1's MAC-based count, capped by the number of batches.</summary>
    static int BatchParts(in Conv2dProblem p, int nb) => Math.Min(ImageParts(p), (p.N + nb - 1) / nb);

    [ThreadStatic] static float[]? t_wide;

    /// <summary>Per-thread workspace: the wide col matrix (ColRows × nb·P) then Cout × nb·P for Y/G.</summary>
    static float* WideWorkspace(in Conv2dProblem p, int nb, out float* gbuf)
    {
        long colLen = (long)p.Geo.ColRows * nb * p.P, gLen = (long)p.Cout * nb * p.P;
        long need = colLen + gLen + 16;
        if (t_wide == null || t_wide.Length < need) t_wide = GC.AllocateUninitializedArray<float>((int)need, pinned: true);
        float* b = (float*)Unsafe.AsPointer(ref t_wide[0]);
        gbuf = b + colLen;
        return b;
    }

    readonly struct BatchedJob(JobKind kind, Conv2dProblem p, float* a, float* b, float* c, int nb, int parts) : IParallelJob
    {
        public int Parts => parts;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            int batches = (p.N + nb - 1) / nb;
            var (b0, bc) = WorkerPool.Range(batches, parts, part);
            int gemmThreads = parts == 1 ? Gemm.MaxThreads : 1;
            for (int bi = b0; bi < b0 + bc; bi++)
            {
                int n0 = bi * nb, count = Math.Min(nb, p.N - n0);
                switch (kind)
                {
                    case JobKind.Forward: BatchForward(a, b, c, p, n0, count, nb, gemmThreads); break;
                    case JobKind.InputGrad: BatchInputGrad(a, b, c, p, n0, count, nb, gemmThreads); break;
                    default: BatchWeightGrad(a, b, c + (long)part * p.WeightLength, p, n0, count, nb, bi == b0, gemmThreads); break;
                }
            }
        }
    }

    static void V2Forward(float* x, float* w, float* y, in Conv2dProblem p)
    {
        int nb = BatchImages(p), parts = BatchParts(p, nb);
        var job = new BatchedJob(JobKind.Forward, p, x, w, y, nb, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    static void V2InputGrad(float* gy, float* w, float* dx, in Conv2dProblem p)
    {
        int nb = BatchImages(p), parts = BatchParts(p, nb);
        var job = new BatchedJob(JobKind.InputGrad, p, gy, w, dx, nb, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    /// <summary>Runs the weight-grad job into <paramref name="dw"/> (parts == 1) or per-part partials; returns parts.</summary>
    static int V2WeightGradParts(in Conv2dProblem p, out int nb)
    {
        nb = BatchImages(p);
        return BatchParts(p, nb);
    }

    static void V2WeightGrad(float* x, float* gy, float* dwOrPartials, in Conv2dProblem p, int nb, int parts)
    {
        var job = new BatchedJob(JobKind.WeightGrad, p, x, gy, dwOrPartials, nb, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    /// <summary>col (ColRows × ld) ← images n0 … n0+count−1 side by side (ld = nb·P; unused columns untouched).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void LowerBatch(float* x, float* col, in Conv2dProblem p, int n0, int count, int ld)
    {
        int inLen = p.Cin * p.HW, P = p.P, rows = p.Geo.ColRows;
        long span = (long)(rows - 1) * ld + P;
        for (int i = 0; i < count; i++)
            Conv2dIm2Col.Im2Col(new ReadOnlySpan<float>(x + (long)(n0 + i) * inLen, inLen),
                new Span<float>(col + (long)i * P, (int)span), p.Geo, 0, p.Geo.C, ld);
    }

    /// <summary>buf (Cout × ld) ↔ t[n] (Cout × P) for images n0 …: gather (toBuf) or scatter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void GatherScatter(float* t, float* buf, in Conv2dProblem p, int n0, int count, int ld, bool toBuf)
    {
        int P = p.P, C = p.Cout;
        for (int i = 0; i < count; i++)
            for (int c = 0; c < C; c++)
            {
                float* img = t + ((long)(n0 + i) * C + c) * P;
                float* wide = buf + (long)c * ld + (long)i * P;
                if (toBuf) Buffer.MemoryCopy(img, wide, P * sizeof(float), P * sizeof(float));
                else Buffer.MemoryCopy(wide, img, P * sizeof(float), P * sizeof(float));
            }
    }

    static void BatchForward(float* x, float* w, float* y, in Conv2dProblem p, int n0, int count, int nb, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, ld = count * P;
        float* col = WideWorkspace(p, nb, out float* ybuf);
        LowerBatch(x, col, p, n0, count, ld);
        // One image: the GEMM writes y directly (its Cout × P block is contiguous).
        float* dst = count == 1 ? y + (long)n0 * p.Cout * P : ybuf;
        for (int g = 0; g < p.Groups; g++)
            Gemm.V2Packed(false, false, Fg, ld, K, 1f,
                new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                new ReadOnlySpan<float>(col + (long)g * K * ld, K * ld), ld,
                0f, new Span<float>(dst + (long)g * Fg * ld, Fg * ld), ld, threads);
        if (count > 1) GatherScatter(y, ybuf, p, n0, count, ld, toBuf: false);
    }

    static void BatchInputGrad(float* gy, float* w, float* dx, in Conv2dProblem p, int n0, int count, int nb, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, ld = count * P, inLen = p.Cin * p.HW;
        float* col = WideWorkspace(p, nb, out float* gbuf);
        float* g0 = gy + (long)n0 * p.Cout * P;
        if (count > 1) { GatherScatter(gy, gbuf, p, n0, count, ld, toBuf: true); g0 = gbuf; }
        for (int g = 0; g < p.Groups; g++)
            Gemm.V2Packed(true, false, K, ld, Fg, 1f,
                new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                new ReadOnlySpan<float>(g0 + (long)g * Fg * ld, Fg * ld), ld,
                0f, new Span<float>(col + (long)g * K * ld, K * ld), ld, threads);
        long span = (long)(p.Geo.ColRows - 1) * ld + P;
        for (int i = 0; i < count; i++)
        {
            var image = new Span<float>(dx + (long)(n0 + i) * inLen, inLen);
            image.Clear();
            Conv2dIm2Col.Col2Im(new ReadOnlySpan<float>(col + (long)i * P, (int)span), image, p.Geo, 0, p.Geo.C, ld);
        }
    }

    static void BatchWeightGrad(float* x, float* gy, float* dw, in Conv2dProblem p, int n0, int count, int nb, bool first, int threads)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, ld = count * P;
        float* col = WideWorkspace(p, nb, out float* gbuf);
        LowerBatch(x, col, p, n0, count, ld);
        float* g0 = gy + (long)n0 * p.Cout * P;
        if (count > 1) { GatherScatter(gy, gbuf, p, n0, count, ld, toBuf: true); g0 = gbuf; }
        for (int g = 0; g < p.Groups; g++)
            Gemm.V2Packed(false, true, Fg, K, ld, 1f,
                new ReadOnlySpan<float>(g0 + (long)g * Fg * ld, Fg * ld), ld,
                new ReadOnlySpan<float>(col + (long)g * K * ld, K * ld), ld,
                first ? 0f : 1f, new Span<float>(dw + (long)g * Fg * K, Fg * K), K, threads);
    }
}
