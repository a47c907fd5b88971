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
//
// Forward versions (each kept and tested against a plain-loop reference in tests/Gpu/ConvTests.cs;
// bench/GpuBench times both at the WORKLOADS K2 shapes):
//   V0Im2Col        per image: Im2Col into the col buffer, then one GEMM per group (Gemm.Run)   (the engine's)
//   V1ImplicitGemm  one launch for every image and group, no col buffer (the implicit GEMM of cuDNN,
//                   Chetlur et al. 2014): Y[g] (Fg, N·P) = W[g] (Fg, K) · X̂[g] (K, N·P), where the
//                   GEMM's B tile is gathered from x while it is staged into shared memory. Images are
//                   merged into the GEMM's N dimension, so K2's 32-channel layers become one 32 × 50,176
//                   product instead of 64 products of 32 × 784. Register tiling as Gemm V2 (64×64 block,
//                   BK = 16, a 4×4 tile per thread of 16×16). Not yet the engine's: it needs a GPU run of
//                   bench/gpu/run-on-device.sh to show it beats V0 there (the CPU accelerator cannot tell).
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

/// <summary>The batch, output channels and groups of an implicit-GEMM launch, beside the geometry.</summary>
public readonly struct ConvBatch(ConvGeometry g, int n, int cout, int groups)
{
    public readonly ConvGeometry G = g;
    public readonly int N = n, Cout = cout, Groups = groups;
}

public enum GpuConvVersion { V0Im2Col, V1ImplicitGemm }

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

    // ---- V1: implicit GEMM ----------------------------------------------------------------------

    const int IgBM = 64, IgBN = 64, IgBK = 16, IgPad = 2, IgAS = IgBM + IgPad, IgBS = IgBN + IgPad;

    /// <summary>y (N, Cout, P) = conv(x, w) for every image and group in one launch: grid (⌈N·P/64⌉, ⌈Fg/64⌉, groups), groups of 16×16.</summary>
    public static void ImplicitGemmKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ConvBatch a)
    {
        var As = SharedMemory.Allocate<float>(IgBK * IgAS);   // As[k][i] = W[g][m0 + i, k0 + k]
        var Bs = SharedMemory.Allocate<float>(IgBK * IgBS);   // Bs[k][j] = X̂[g][k0 + k, n0 + j], gathered from x
        var g = a.G;
        int gi = Grid.IdxZ, Fg = a.Cout / a.Groups, Cg = g.C / a.Groups, taps = g.KH * g.KW, K = Cg * taps, P = g.Hout * g.Wout, NP = a.N * P;
        int m0 = Grid.IdxY * IgBM, n0 = Grid.IdxX * IgBN, tx = Group.IdxX, ty = Group.IdxY, t = ty * 16 + tx;
        int wBase = gi * Fg * K, cBase = gi * Cg;
        Row4 c0 = default, c1 = default, c2 = default, c3 = default;
        for (int k0 = 0; k0 < K; k0 += IgBK)
        {
            // 1. A: neighbouring threads take neighbouring k (contiguous in W's rows)
            for (int e = t; e < IgBM * IgBK; e += 256)
            {
                int i = e / IgBK, k = e - i * IgBK;
                As[k * IgAS + i] = m0 + i < Fg && k0 + k < K ? w[wBase + (m0 + i) * K + k0 + k] : 0f;
            }
            // 2. B: neighbouring threads take neighbouring output pixels (neighbouring iw for stride 1)
            for (int e = t; e < IgBK * IgBN; e += 256)
            {
                int k = e / IgBN, j = e - k * IgBN, kk = k0 + k, q = n0 + j;
                float v = 0f;
                if (kk < K && q < NP)
                {
                    int c = kk / taps, tap = kk - c * taps, ki = tap / g.KW, kj = tap - ki * g.KW;
                    int img = q / P, p = q - img * P, oh = p / g.Wout, ow = p - oh * g.Wout;
                    int ih = oh * g.SH - g.PH + ki * g.DH, iw = ow * g.SW - g.PW + kj * g.DW;
                    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) v = x[((img * g.C + cBase + c) * g.H + ih) * g.W + iw];
                }
                Bs[k * IgBS + j] = v;
            }
            Group.Barrier();
            // 3. 16 rank-1 updates of the 4×4 register tile (rows ty + 16r, columns tx + 16s)
            for (int k = 0; k < IgBK; k++)
            {
                var b = Row4.Gather(Bs, k * IgBS + tx, 16);
                int ai = k * IgAS + ty;
                c0 = c0.Fma(As[ai], b);
                c1 = c1.Fma(As[ai + 16], b);
                c2 = c2.Fma(As[ai + 32], b);
                c3 = c3.Fma(As[ai + 48], b);
            }
            Group.Barrier();
        }
        StoreImplicit(y, c0, m0 + ty, n0 + tx, gi, Fg, P, NP, a.Cout);
        StoreImplicit(y, c1, m0 + ty + 16, n0 + tx, gi, Fg, P, NP, a.Cout);
        StoreImplicit(y, c2, m0 + ty + 32, n0 + tx, gi, Fg, P, NP, a.Cout);
        StoreImplicit(y, c3, m0 + ty + 48, n0 + tx, gi, Fg, P, NP, a.Cout);
    }

    /// <summary>One register-tile row to y[img, g·Fg + row, p] for columns q = col + 16s (q = img·P + p).</summary>
    static void StoreImplicit(ArrayView<float> y, Row4 r, int row, int col, int gi, int Fg, int P, int NP, int Cout)
    {
        if (row >= Fg) return;
        int co = gi * Fg + row;
        StoreOne(y, r.C0, co, col, P, NP, Cout);
        StoreOne(y, r.C1, co, col + 16, P, NP, Cout);
        StoreOne(y, r.C2, co, col + 32, P, NP, Cout);
        StoreOne(y, r.C3, co, col + 48, P, NP, Cout);
    }

    static void StoreOne(ArrayView<float> y, float v, int co, int q, int P, int NP, int Cout)
    {
        if (q >= NP) return;
        int img = q / P;
        y[(img * Cout + co) * P + (q - img * P)] = v;
    }

    /// <summary>y (N, Cout, P) = conv(x (N, C, H, W), w (Cout, C/G, KH, KW)) by implicit GEMM: no col buffer, one launch.</summary>
    public static void ForwardImplicit(GpuContext gpu, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, int N, int Cout, int groups, ConvGeometry g)
    {
        long xLen = (long)N * g.C * g.H * g.W, wLen = (long)Cout * (g.C / Math.Max(1, groups)) * g.KH * g.KW, yLen = (long)N * Cout * g.P;
        if (groups < 1 || g.C % groups != 0 || Cout % groups != 0 || x.Length < xLen || w.Length < wLen || y.Length < yLen || xLen > int.MaxValue || yLen > int.MaxValue)
            throw new ArgumentException($"Gpu.Conv2d.ForwardImplicit: views x={x.Length}, w={w.Length}, y={y.Length} do not fit N={N}, C={g.C}, H={g.H}, W={g.W}, " +
                $"Cout={Cout}, groups={groups}, kernel {g.KH}×{g.KW}, output {g.Hout}×{g.Wout} (C and Cout divisible by groups).");
        if (yLen == 0) return;
        int Fg = Cout / groups;
        if ((long)g.C / groups * g.KH * g.KW == 0) { Strided.Fill(gpu, y.SubView(0, yLen), 0f); return; }
        var grid = new Index3D((int)((N * (long)g.P + IgBN - 1) / IgBN), (Fg + IgBM - 1) / IgBM, groups);
        gpu.Kernels.Get("Conv2d.ImplicitGemm", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvBatch>(ImplicitGemmKernel))
            (new KernelConfig(grid, new Index3D(16, 16, 1)), x, w, y, new ConvBatch(g, N, Cout, groups));
    }

    /// <summary>The forward with an explicit version (V0: im2col + <paramref name="gemm"/>; V1: implicit GEMM).</summary>
    public static void Forward(GpuContext gpu, GpuConvVersion version, GpuGemmVersion gemm, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> col, int N, int Cout, int groups, ConvGeometry g)
    {
        if (version == GpuConvVersion.V1ImplicitGemm) ForwardImplicit(gpu, x, w, y, N, Cout, groups, g);
        else Forward(gpu, gemm, x, w, y, col, N, Cout, groups, g);
    }
}
