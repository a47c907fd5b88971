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
// Speed: the span kernels live in kernels/Cpu/Conv/Conv2d.cs (numbered versions; Conv2d.BestForward,
// BestInputGrad and BestWeightGrad name the one these call per shape, V7 on AVX-512 machines: V4/V5
// tiles or the stem's stencils): image batches on the worker pool, an
// implicit GEMM that never materialises the col matrix, the bias added in the forward kernel's
// store, and a fixed-order sum of per-batch weight gradients, so results are bit-identical
// whatever the thread count.
// On a GPU device the same three maps run as im2col + GEMM kernels (kernels/Gpu/Conv2d.cs via GpuOps).
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
    public Conv2dProblem Problem(int n) => new(n, Geometry, Cout, Groups);
}

internal static class ConvKernels
{
    /// <summary>y (N, Cout, Hout, Wout) = conv(x (N, Cin, H, W), w) + b (b: (Cout) or null).</summary>
    public static Tensor Forward(Tensor x, Tensor w, Tensor? b, in ConvSpec s)
    {
        var p = s.Problem(x.shape[0]);
        var xc = x.ContiguousNoGrad(); var wc = w.ContiguousNoGrad();
        var y = Tensor.Empty(s.OutputShape(p.N), DType.Float32, x.Device);
        if (y.Storage is GpuStorage)
        {
            GpuOps.ConvForward(xc, wc, y, s);
            if (b != null) using (Autograd.NoGrad()) y.AddInPlace(b.Reshape(1, s.Cout, 1, 1));
            return y;
        }
        if (b == null) Conv2d.Forward(Whole(xc), Whole(wc), y.Span, p);
        else Conv2d.Forward(Whole(xc), Whole(wc), Whole(b.ContiguousNoGrad()), y.Span, p);
        return y;
    }

    /// <summary>dx (N, Cin, H, W) = convᵀ(gy (N, Cout, Hout, Wout), w): the transposed convolution.</summary>
    public static Tensor InputGrad(Tensor gy, Tensor w, in ConvSpec s) => InputGrad(gy, w, null, s);

    /// <summary>dx + b (b: (Cin) or null, one value per dx channel): the transposed convolution with its bias.</summary>
    public static Tensor InputGrad(Tensor gy, Tensor w, Tensor? b, in ConvSpec s)
    {
        var p = s.Problem(gy.shape[0]);
        var gc = gy.ContiguousNoGrad(); var wc = w.ContiguousNoGrad();
        var dx = Tensor.Empty(s.InputShape(p.N), DType.Float32, gy.Device);
        if (dx.Storage is GpuStorage)
        {
            GpuOps.ConvInputGrad(gc, wc, dx, s);
            if (b != null) using (Autograd.NoGrad()) dx.AddInPlace(b.Reshape(1, s.Cin, 1, 1));
            return dx;
        }
        if (b == null) Conv2d.InputGrad(Whole(gc), Whole(wc), dx.Span, p);
        else Conv2d.InputGrad(Whole(gc), Whole(wc), Whole(b.ContiguousNoGrad()), dx.Span, p);
        return dx;
    }

    /// <summary>dw (Cout, Cin/G, KH, KW) = Σₙ gy[n] · im2col(x[n])ᵀ, per group.</summary>
    public static Tensor WeightGrad(Tensor x, Tensor gy, in ConvSpec s)
    {
        var p = s.Problem(x.shape[0]);
        var xc = x.ContiguousNoGrad(); var gc = gy.ContiguousNoGrad();
        var dw = Tensor.Empty(s.WeightShape, DType.Float32, x.Device);
        if (dw.Storage is GpuStorage) { GpuOps.ConvWeightGrad(xc, gc, dw, s); return dw; }
        Conv2d.WeightGrad(Whole(xc), Whole(gc), dw.Span, p);
        return dw;
    }

    /// <summary>db (C) = Σ over images and pixels of gy (N, C, H, W): a conv's bias gradient, one streaming pass on
    /// the CPU (Conv2d.BiasGrad); elsewhere Tensor.SumTo.</summary>
    public static Tensor BiasGrad(Tensor gy, int C)
    {
        if (gy.Storage is GpuStorage || gy.Rank != 4 || gy.shape[1] != C)
            using (Autograd.NoGrad()) return gy.SumTo([1, C, 1, 1]).Reshape(C);
        var gc = gy.ContiguousNoGrad();
        var db = Tensor.Empty([C], DType.Float32, gy.Device);
        Conv2d.BiasGrad(Whole(gc), db.Span, gy.shape[0], C, gy.shape[2] * gy.shape[3]);
        return db;
    }

    /// <summary>The elements of a contiguous tensor (empty tensors give an empty span).</summary>
    static ReadOnlySpan<float> Whole(Tensor t) => t.Data.AsSpan(t.offset, t.Numel);
}
