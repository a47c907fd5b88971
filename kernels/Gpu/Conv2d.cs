// Conv2d.cs — 2-D convolution on the GPU by im2col + GEMM (Chellapilla, Puri & Simard, 2006), the
// lowering kernels/Cpu/Conv uses, with the same col layout (kernels/Cpu/Conv/Im2Col.cs):
//   col (C·KH·KW, Hout·Wout), row (c·KH + ki)·KW + kj holding x[c, oh·SH − PH + ki·DH, ow·SW − PW + kj·DW]
//   1. Forward      Y[g]  (Fg, P) = W[g] (Fg, K) · col[g] (K, P)        col = Im2Col(x)
//   2. InputGrad    col[g] (K, P) = W[g]ᵀ · G[g];  dX = Col2Im(col)
//   3. WeightGrad   dW[g] (Fg, K) = Σₙ G[g] · col[g]ᵀ   (GEMM with beta = 1 after the first image)
// The GEMMs are Gemm.Run (any version); this file holds the two data-movement kernels and the driver.
//
// Col2Im is written as a gather (one thread per image element, summing the col entries that read it,
// kernel taps in ascending (ki, kj) order), not the CPU's scatter: no atomics, deterministic, and the
// same addition order per element as the CPU's row-by-row scatter.
// Not done yet (a V1): implicit GEMM (im2col fused into the GEMM's tile loads, no col buffer).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>One convolution's geometry as kernel-argument fields (ILGPU passes plain structs by value).</summary>
public readonly struct ConvGeometry(int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int hout, int wout)
{
    public readonly int C = c, H = h, W = w, KH = kh, KW = kw, SH = sh, SW = sw, PH = ph, PW = pw, DH = dh, DW = dw, Hout = hout, Wout = wout;
    public int P => Hout * Wout;
    public int ColRows => C * KH * KW;
}

public static class Conv2d
{
    /// <summary>col[row, p] of one image (see the file header); zero in the padding.</summary>
    public static void Im2ColKernel(ArrayView<float> x, ArrayView<float> col, ConvGeometry g)
    {
        int P = g.Hout * g.Wout, n = g.C * g.KH * g.KW * P, stride = Grid.DimX * Group.DimX, taps = g.KH * g.KW;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            int row = i / P, p = i - row * P;
            int c = row / taps, tap = row - c * taps, ki = tap / g.KW, kj = tap - ki * g.KW;
            int oh = p / g.Wout, ow = p - oh * g.Wout;
            int ih = oh * g.SH - g.PH + ki * g.DH, iw = ow * g.SW - g.PW + kj * g.DW;
            col[i] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[(c * g.H + ih) * g.W + iw] : 0f;
        }
    }

    /// <summary>x[c, ih, iw] = Σ over the (ki, kj, oh, ow) that read it of col[row, p] (the adjoint of Im2Col).</summary>
    public static void Col2ImKernel(ArrayView<float> col, ArrayView<float> x, ConvGeometry g)
    {
        int HW = g.H * g.W, n = g.C * HW, P = g.Hout * g.Wout, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            int c = i / HW, rest = i - c * HW, ih = rest / g.W, iw = rest - ih * g.W;
            float s = 0f;
            for (int ki = 0; ki < g.KH; ki++)
            {
                int th = ih + g.PH - ki * g.DH;                  // = oh·SH
                if (th < 0) break;                               // grows more negative with ki
                int oh = th / g.SH;
                if (oh * g.SH != th || oh >= g.Hout) continue;
                for (int kj = 0; kj < g.KW; kj++)
                {
                    int tw = iw + g.PW - kj * g.DW;
                    if (tw < 0) break;
                    int ow = tw / g.SW;
                    if (ow * g.SW != tw || ow >= g.Wout) continue;
                    s += col[((c * g.KH + ki) * g.KW + kj) * P + oh * g.Wout + ow];
                }
            }
            x[i] = s;
        }
    }

    public static void Im2Col(GpuContext gpu, ArrayView<float> x, ArrayView<float> col, ConvGeometry g)
    {
        long n = (long)g.ColRows * g.P;
        if (x.Length < (long)g.C * g.H * g.W || col.Length < n) throw new ArgumentException($"Gpu.Conv2d.Im2Col: image view {x.Length} / col view {col.Length} too short for C={g.C}, H={g.H}, W={g.W}, col {g.ColRows}×{g.P}.");
        if (n == 0) return;
        gpu.Kernels.Get("Conv2d.Im2Col", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ConvGeometry>(Im2ColKernel))(gpu.StreamConfig(n), x, col, g);
    }

    public static void Col2Im(GpuContext gpu, ArrayView<float> col, ArrayView<float> x, ConvGeometry g)
    {
        long n = (long)g.C * g.H * g.W;
        if (x.Length < n || col.Length < (long)g.ColRows * g.P) throw new ArgumentException($"Gpu.Conv2d.Col2Im: col view {col.Length} / image view {x.Length} too short for C={g.C}, H={g.H}, W={g.W}, col {g.ColRows}×{g.P}.");
        if (n == 0) return;
        gpu.Kernels.Get("Conv2d.Col2Im", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ConvGeometry>(Col2ImKernel))(gpu.StreamConfig(n), col, x, g);
    }

    /// <summary>y (N, Cout, P) = conv(x (N, C, H, W), w (Cout, C/G, KH, KW)); <paramref name="col"/> holds one image's col matrix.</summary>
    public static void Forward(GpuContext gpu, GpuGemmVersion version, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> col, int N, int Cout, int groups, ConvGeometry g)
    {
        int P = g.P, HW = g.H * g.W, CoutG = Cout / groups, KG = g.ColRows / groups;
        for (int n = 0; n < N; n++)
        {
            Im2Col(gpu, x.SubView((long)n * g.C * HW), col, g);
            for (int gi = 0; gi < groups; gi++)
                Gemm.Run(gpu, version, false, false, CoutG, P, KG, 1f, w.SubView((long)gi * CoutG * KG), KG,
                    col.SubView((long)gi * KG * P), P, 0f, y.SubView(((long)n * Cout + gi * CoutG) * P), P);
        }
    }

    /// <summary>dx (N, C, H, W) = convᵀ(gy (N, Cout, P), w): per image, col = Wᵀ·G then Col2Im.</summary>
    public static void InputGrad(GpuContext gpu, GpuGemmVersion version, ArrayView<float> gy, ArrayView<float> w, ArrayView<float> dx,
        ArrayView<float> col, int N, int Cout, int groups, ConvGeometry g)
    {
        int P = g.P, HW = g.H * g.W, CoutG = Cout / groups, KG = g.ColRows / groups;
        for (int n = 0; n < N; n++)
        {
            for (int gi = 0; gi < groups; gi++)
                Gemm.Run(gpu, version, true, false, KG, P, CoutG, 1f, w.SubView((long)gi * CoutG * KG), KG,
                    gy.SubView(((long)n * Cout + gi * CoutG) * P), P, 0f, col.SubView((long)gi * KG * P), P);
            Col2Im(gpu, col, dx.SubView((long)n * g.C * HW), g);
        }
    }

    /// <summary>dw (Cout, C/G, KH, KW) = Σₙ gy[n] · im2col(x[n])ᵀ, per group.</summary>
    public static void WeightGrad(GpuContext gpu, GpuGemmVersion version, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> dw,
        ArrayView<float> col, int N, int Cout, int groups, ConvGeometry g)
    {
        int P = g.P, HW = g.H * g.W, CoutG = Cout / groups, KG = g.ColRows / groups;
        for (int n = 0; n < N; n++)
        {
            Im2Col(gpu, x.SubView((long)n * g.C * HW), col, g);
            for (int gi = 0; gi < groups; gi++)
                Gemm.Run(gpu, version, false, true, CoutG, KG, P, 1f, gy.SubView(((long)n * Cout + gi * CoutG) * P), P,
                    col.SubView((long)gi * KG * P), P, n == 0 ? 0f : 1f, dw.SubView((long)gi * CoutG * KG), KG);
        }
    }
}
