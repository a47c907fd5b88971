// Conv2d.V0PerImage.cs — the first convolution: images one after another, one im2col and one
// GEMM per image and group, each threading itself (Parallel.For inside the GEMM and the im2col).
// Kept as the reference the later versions are tested and benchmarked against; see Conv2d.cs.
using System.Buffers;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    // Im2Col/Col2Im were split over channel ranges once an image's col matrix passed 2^16 floats.
    const int ParallelUnfoldFloats = 1 << 16;

    static void V0Forward(float* x, float* w, float* y, in Conv2dProblem p)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float[]? col = p.IsPointwise ? null : ArrayPool<float>.Shared.Rent(p.Geo.ColRows * P);
        for (int n = 0; n < p.N; n++)
        {
            var xn = new ReadOnlySpan<float>(x + (long)n * inLen, inLen);
            ReadOnlySpan<float> cols = xn;
            if (col != null) { V0Unfold(xn, col, p.Geo); cols = col; }
            for (int g = 0; g < p.Groups; g++)
                Gemm.Run(false, false, Fg, P, K, 1f, new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                    cols[(g * K * P)..], P, 0f, new Span<float>(y + ((long)n * p.Cout + g * Fg) * P, Fg * P), P);
        }
        if (col != null) ArrayPool<float>.Shared.Return(col);
    }

    static void V0InputGrad(float* gy, float* w, float* dx, in Conv2dProblem p)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float[]? col = p.IsPointwise ? null : ArrayPool<float>.Shared.Rent(p.Geo.ColRows * P);
        for (int n = 0; n < p.N; n++)
        {
            var dxn = new Span<float>(dx + (long)n * inLen, inLen);
            Span<float> cols = col ?? dxn;
            for (int g = 0; g < p.Groups; g++)
                Gemm.Run(true, false, K, P, Fg, 1f, new ReadOnlySpan<float>(w + (long)g * Fg * K, Fg * K), K,
                    new ReadOnlySpan<float>(gy + ((long)n * p.Cout + g * Fg) * P, Fg * P), P, 0f, cols[(g * K * P)..], P);
            if (col != null) V0Fold(col, dxn, p.Geo);
        }
        if (col != null) ArrayPool<float>.Shared.Return(col);
    }

    static void V0WeightGrad(float* x, float* gy, float* dw, in Conv2dProblem p)
    {
        int P = p.P, K = p.KG, Fg = p.CoutG, inLen = p.Cin * p.HW;
        float[]? col = p.IsPointwise ? null : ArrayPool<float>.Shared.Rent(p.Geo.ColRows * P);
        for (int n = 0; n < p.N; n++)
        {
            var xn = new ReadOnlySpan<float>(x + (long)n * inLen, inLen);
            ReadOnlySpan<float> cols = xn;
            if (col != null) { V0Unfold(xn, col, p.Geo); cols = col; }
            for (int g = 0; g < p.Groups; g++)
                Gemm.Run(false, true, Fg, K, P, 1f, new ReadOnlySpan<float>(gy + ((long)n * p.Cout + g * Fg) * P, Fg * P), P,
                    cols[(g * K * P)..], P, n == 0 ? 0f : 1f, new Span<float>(dw + (long)g * Fg * K, Fg * K), K);
        }
        if (col != null) ArrayPool<float>.Shared.Return(col);
    }

    static int V0UnfoldThreads(in Conv2dGeometry geo) =>
        (long)geo.ColRows * geo.ColCols < ParallelUnfoldFloats ? 1 : Math.Clamp(Gemm.MaxThreads, 1, geo.C);

    static void V0Unfold(ReadOnlySpan<float> image, float[] col, Conv2dGeometry geo)
    {
        int T = V0UnfoldThreads(geo);
        if (T == 1) { Conv2dIm2Col.Im2Col(image, col, geo); return; }
        fixed (float* pi = image)
        {
            nint src = (nint)pi; int len = image.Length;
            Parallel.For(0, T, new ParallelOptions { MaxDegreeOfParallelism = T }, t =>
            {
                var (c0, count) = WorkerPool.Range(geo.C, T, t);
                Conv2dIm2Col.Im2Col(new ReadOnlySpan<float>((float*)src, len), col, geo, c0, count);
            });
        }
    }

    static void V0Fold(float[] col, Span<float> image, Conv2dGeometry geo)
    {
        int T = V0UnfoldThreads(geo), HW = geo.H * geo.W;
        if (T == 1) { image.Clear(); Conv2dIm2Col.Col2Im(col, image, geo); return; }
        fixed (float* pi = image)
        {
            nint dst = (nint)pi; int len = image.Length;
            Parallel.For(0, T, new ParallelOptions { MaxDegreeOfParallelism = T }, t =>
            {
                var (c0, count) = WorkerPool.Range(geo.C, T, t);
                var img = new Span<float>((float*)dst, len);
                img.Slice(c0 * HW, count * HW).Clear();
                Conv2dIm2Col.Col2Im(col, img, geo, c0, count);
            });
        }
    }
}
