// ConvKernels.cs — the three linear maps behind every convolution, as plain tensor kernels
// (no tape here; engine/NN/Functional.Conv.cs records them and wires their backward rules).
//
// For one image and one group g (Cg = Cin/G input channels, Fg = Cout/G filters, K = Cg·KH·KW,
// P = Hout·Wout) the im2col lowering (Chellapilla, Puri & Simard, 2006) turns convolution into GEMMs:
//   1. Forward      Y[g]  (Fg, P) = W[g] (Fg, K) · col[g] (K, P)          col = Im2Col(x)
//   2. InputGrad    col[g] (K, P) = W[g]ᵀ (K, Fg) · G[g] (Fg, P)          dX = Col2Im(col)
//   3. WeightGrad   dW[g] (Fg, K) = Σₙ G[g] (Fg, P) · col[g]ᵀ (P, K)       col = Im2Col(x)
// InputGrad is the adjoint of Forward in x and WeightGrad its adjoint in W, so each map's
// derivative is one of the other two (see Functional.Conv.cs). InputGrad is also the transposed
// convolution.
//
// Speed: the col matrix of one image lives in a pooled workspace (CpuPool, returned at the end of
// the call). One GEMM per image per group; threads come from the GEMM itself, so results are
// bit-identical whatever the thread count. A 1×1, stride-1, unpadded convolution skips
// im2col: the image viewed as (Cin, H·W) already is the col matrix.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Engine.Conv
using Denoise.Kernels.Cpu;

namespace Denoise;

/// <summary>
/// One 2-D convolution from (Cin, H, W) images to (Cout, Hout, Wout), weight (Cout, Cin/Groups, KH, KW);
/// the batch size is taken from the tensors.
/// </summary>
internal readonly record struct ConvSpec(
    int Cin, int H, int W, int Cout, int KH, int KW,
    int SH, int SW, int PH, int PW, int DH, int DW, int Groups)
{
    public int Hout => Conv2dIm2Col.OutputSize(H, KH, SH, PH, DH);
    public int Wout => Conv2dIm2Col.OutputSize(W, KW, SW, PW, DW);
    public int CinG => Cin / Groups;
    public int CoutG => Cout / Groups;
    /// <summary>GEMM inner dimension of one group: Cin/G · KH · KW.</summary>
    public int KG => CinG * KH * KW;
    /// <summary>1×1, stride 1, no padding: x (Cin, H·W) is its own col matrix (dilation is irrelevant at k = 1).</summary>
    public bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
    public Conv2dGeometry Geometry => new(Cin, H, W, KH, KW, SH, SW, PH, PW, DH, DW);
    public int[] InputShape(int n) => [n, Cin, H, W];
    public int[] OutputShape(int n) => [n, Cout, Hout, Wout];
    public int[] WeightShape => [Cout, CinG, KH, KW];
}

internal static class ConvKernels
{
    /// <summary>y (N, Cout, Hout, Wout) = conv(x (N, Cin, H, W), w).</summary>
    public static Tensor Forward(Tensor x, Tensor w, in ConvSpec s)
    {
        int N = x.shape[0], P = s.Hout * s.Wout, HW = s.H * s.W, K = s.KG, Fg = s.CoutG;
        var xc = x.ContiguousNoGrad(); var wc = w.ContiguousNoGrad();
        var y = Tensor.Empty(s.OutputShape(N));
        float[] xd = xc.Data, wd = wc.Data, yd = y.Data;
        var geo = s.Geometry;
        float[]? col = s.IsPointwise ? null : CpuPool.Floats.Rent(s.Cin * s.KH * s.KW * P);
        try
        {
            for (int n = 0; n < N; n++)
            {
                ReadOnlySpan<float> xn = xd.AsSpan(xc.offset + n * s.Cin * HW, s.Cin * HW);
                ReadOnlySpan<float> cols = xn;
                if (col != null) { Unfold(xd, xc.offset + n * s.Cin * HW, col, geo); cols = col; }
                for (int g = 0; g < s.Groups; g++)
                    Gemm.Run(false, false, Fg, P, K, 1f,
                        wd.AsSpan(wc.offset + g * Fg * K), K,
                        cols[(g * K * P)..], P,
                        0f, yd.AsSpan(y.offset + (n * s.Cout + g * Fg) * P, Fg * P), P);
            }
        }
        finally { if (col != null) CpuPool.Floats.Return(col); }
        return y;
    }

    /// <summary>dx (N, Cin, H, W) = convᵀ(gy (N, Cout, Hout, Wout), w): the transposed convolution.</summary>
    public static Tensor InputGrad(Tensor gy, Tensor w, in ConvSpec s)
    {
        int N = gy.shape[0], P = s.Hout * s.Wout, HW = s.H * s.W, K = s.KG, Fg = s.CoutG;
        var gc = gy.ContiguousNoGrad(); var wc = w.ContiguousNoGrad();
        var dx = Tensor.Empty(s.InputShape(N));
        float[] gd = gc.Data, wd = wc.Data, dd = dx.Data;
        var geo = s.Geometry;
        float[]? col = s.IsPointwise ? null : CpuPool.Floats.Rent(s.Cin * s.KH * s.KW * P);
        try
        {
            for (int n = 0; n < N; n++)
            {
                Span<float> dxn = dd.AsSpan(dx.offset + n * s.Cin * HW, s.Cin * HW);
                // Pointwise: P == H·W and the col rows are dx's channels, so GEMM writes dx directly.
                Span<float> cols = col ?? dxn;
                for (int g = 0; g < s.Groups; g++)
                    Gemm.Run(true, false, K, P, Fg, 1f,
                        wd.AsSpan(wc.offset + g * Fg * K), K,
                        gd.AsSpan(gc.offset + (n * s.Cout + g * Fg) * P, Fg * P), P,
                        0f, cols[(g * K * P)..], P);
                if (col != null) Fold(col, dd, dx.offset + n * s.Cin * HW, geo);
            }
        }
        finally { if (col != null) CpuPool.Floats.Return(col); }
        return dx;
    }

    /// <summary>dw (Cout, Cin/G, KH, KW) = Σₙ gy[n] · im2col(x[n])ᵀ, per group.</summary>
    public static Tensor WeightGrad(Tensor x, Tensor gy, in ConvSpec s)
    {
        int N = x.shape[0], P = s.Hout * s.Wout, HW = s.H * s.W, K = s.KG, Fg = s.CoutG;
        var xc = x.ContiguousNoGrad(); var gc = gy.ContiguousNoGrad();
        var dw = Tensor.Empty(s.WeightShape);
        if (N == 0) { dw.Span.Clear(); return dw; }
        float[] xd = xc.Data, gd = gc.Data, dd = dw.Data;
        var geo = s.Geometry;
        float[]? col = s.IsPointwise ? null : CpuPool.Floats.Rent(s.Cin * s.KH * s.KW * P);
        try
        {
            for (int n = 0; n < N; n++)
            {
                ReadOnlySpan<float> xn = xd.AsSpan(xc.offset + n * s.Cin * HW, s.Cin * HW);
                ReadOnlySpan<float> cols = xn;
                if (col != null) { Unfold(xd, xc.offset + n * s.Cin * HW, col, geo); cols = col; }
                // Images accumulate in order (beta = 1 after the first), so the sum is deterministic.
                for (int g = 0; g < s.Groups; g++)
                    Gemm.Run(false, true, Fg, K, P, 1f,
                        gd.AsSpan(gc.offset + (n * s.Cout + g * Fg) * P, Fg * P), P,
                        cols[(g * K * P)..], P,
                        n == 0 ? 0f : 1f, dd.AsSpan(dw.offset + g * Fg * K, Fg * K), K);
            }
        }
        finally { if (col != null) CpuPool.Floats.Return(col); }
        return dw;
    }

    // Im2Col/Col2Im are memory-bound and serial would cost about a third of a 3×3 layer, so they are
    // split over channel ranges (disjoint col rows and image planes: no races, same bits).
    const int ParallelUnfoldFloats = 1 << 16;

    static int UnfoldThreads(in Conv2dGeometry geo) =>
        (long)geo.ColRows * geo.ColCols < ParallelUnfoldFloats ? 1 : Math.Clamp(Gemm.MaxThreads, 1, geo.C);

    /// <summary>col = Im2Col(image at src[offset..]).</summary>
    static void Unfold(float[] src, int offset, float[] col, Conv2dGeometry geo)
    {
        int T = UnfoldThreads(geo), len = geo.C * geo.H * geo.W;
        if (T == 1) { Conv2dIm2Col.Im2Col(src.AsSpan(offset, len), col, geo); return; }
        Parallel.For(0, T, new ParallelOptions { MaxDegreeOfParallelism = T }, t =>
        {
            var (c0, count) = ChannelRange(geo.C, T, t);
            Conv2dIm2Col.Im2Col(src.AsSpan(offset, len), col, geo, c0, count);
        });
    }

    /// <summary>image at dst[offset..] = Col2Im(col) (overwrites).</summary>
    static void Fold(float[] col, float[] dst, int offset, Conv2dGeometry geo)
    {
        int T = UnfoldThreads(geo), HW = geo.H * geo.W, len = geo.C * HW;
        if (T == 1) { dst.AsSpan(offset, len).Clear(); Conv2dIm2Col.Col2Im(col, dst.AsSpan(offset, len), geo); return; }
        Parallel.For(0, T, new ParallelOptions { MaxDegreeOfParallelism = T }, t =>
        {
            var (c0, count) = ChannelRange(geo.C, T, t);
            dst.AsSpan(offset + c0 * HW, count * HW).Clear();
            Conv2dIm2Col.Col2Im(col, dst.AsSpan(offset, len), geo, c0, count);
        });
    }

    static (int C0, int Count) ChannelRange(int C, int T, int t)
    {
        int c0 = (int)((long)C * t / T), c1 = (int)((long)C * (t + 1) / T);
        return (c0, c1 - c0);
    }
}
