// Im2Col.cs — unfold image patches into a matrix so 2-D convolution becomes one GEMM
// (Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for Document
// Processing", 2006), and Col2Im, its adjoint, which folds a column matrix back into an image
// (the input-gradient path of convolution).
//
// Layout: image (C, H, W) contiguous; col matrix (C·KH·KW, Hout·Wout) row-major, row
// (c·KH + ki)·KW + kj holding x[c, oh·SH − PH + ki·DH, ow·SW − PW + kj·DW] for every (oh, ow),
// zero where that falls in the padding. Then  Y (F, Hout·Wout) = W (F, C·KH·KW) · col.
//
// Speed: for each (row, oh) the valid ow range is solved once, so the inner loop has no
// bounds branches: padding becomes two Clear()s and the middle is a contiguous copy (SW = 1) or
// a strided gather.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Im2Col
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Denoise.Kernels.Cpu;

/// <summary>Shape of one 2-D convolution over a (C, H, W) image.</summary>
public readonly record struct Conv2dGeometry(
    int C, int H, int W, int KH, int KW,
    int SH = 1, int SW = 1, int PH = 0, int PW = 0, int DH = 1, int DW = 1)
{
    public int Hout => Conv2dIm2Col.OutputSize(H, KH, SH, PH, DH);
    public int Wout => Conv2dIm2Col.OutputSize(W, KW, SW, PW, DW);
    /// <summary>Rows of the col matrix: C·KH·KW.</summary>
    public int ColRows => C * KH * KW;
    /// <summary>Columns of the col matrix: Hout·Wout.</summary>
    public int ColCols => Hout * Wout;
}

public static class Conv2dIm2Col
{
    /// <summary>floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1, as in PyTorch's Conv2d.</summary>
    public static int OutputSize(int inSize, int k, int stride, int pad, int dilation)
    {
        if (k < 1 || stride < 1 || dilation < 1 || pad < 0) throw new ArgumentOutOfRangeException(nameof(k));
        int span = inSize + 2 * pad - dilation * (k - 1) - 1;
        return span < 0 ? 0 : span / stride + 1;
    }

    /// <summary>Fills the whole col matrix from the whole image.</summary>
    public static void Im2Col(ReadOnlySpan<float> image, Span<float> col, in Conv2dGeometry g)
        => Im2Col(image, col, g, 0, g.C);

    /// <summary>
    /// Fills the col rows of channels [c0, c0 + count) — rows c0·KH·KW .. (c0 + count)·KH·KW —
    /// from the same channels of the image. Spans are the full image and the full col matrix, so
    /// disjoint channel ranges can be filled by different threads.
    /// </summary>
    public static void Im2Col(ReadOnlySpan<float> image, Span<float> col, in Conv2dGeometry g, int c0, int count)
        => Im2Col(image, col, g, c0, count, g.ColCols);

    /// <summary>
    /// Im2Col into a wider matrix: col row r starts at r·<paramref name="ld"/> (ld ≥ Hout·Wout), so
    /// several images can sit side by side as column blocks of one GEMM operand (Conv2d V2Batched).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Im2Col(ReadOnlySpan<float> image, Span<float> col, in Conv2dGeometry g, int c0, int count, int ld)
    {
        Check(image.Length, col.Length, g, c0, count, ld);
        int Hout = g.Hout, Wout = g.Wout, HW = g.H * g.W;
        for (int c = c0; c < c0 + count; c++)
        {
            ReadOnlySpan<float> x = image.Slice(c * HW, HW);
            for (int ki = 0; ki < g.KH; ki++)
                for (int kj = 0; kj < g.KW; kj++)
                {
                    int row = (c * g.KH + ki) * g.KW + kj;
                    Span<float> dst = col.Slice(row * ld, Hout * Wout);
                    int iwOff = kj * g.DW - g.PW;   // iw = ow·SW + iwOff
                    var (owLo, owHi) = ValidRange(iwOff, g.SW, g.W, Wout);
                    for (int oh = 0; oh < Hout; oh++)
                    {
                        Span<float> d = dst.Slice(oh * Wout, Wout);
                        int ih = oh * g.SH - g.PH + ki * g.DH;
                        if ((uint)ih >= (uint)g.H || owLo >= owHi) { d.Clear(); continue; }
                        d[..owLo].Clear();
                        d[owHi..].Clear();
                        ReadOnlySpan<float> src = x.Slice(ih * g.W);
                        if (g.SW == 1)
                            src.Slice(owLo + iwOff, owHi - owLo).CopyTo(d[owLo..owHi]);
                        else
                            for (int ow = owLo, iw = owLo * g.SW + iwOff; ow < owHi; ow++, iw += g.SW)
                                d[ow] = src[iw];
                    }
                }
        }
    }

    /// <summary>Adds the whole col matrix back into the image (+=; the caller zeroes it first).</summary>
    public static void Col2Im(ReadOnlySpan<float> col, Span<float> image, in Conv2dGeometry g)
        => Col2Im(col, image, g, 0, g.C);

    /// <summary>
    /// Col2Im for channels [c0, c0 + count): image[c, ih, iw] += every col entry that Im2Col
    /// would have read from it. The exact adjoint of Im2Col.
    /// </summary>
    public static void Col2Im(ReadOnlySpan<float> col, Span<float> image, in Conv2dGeometry g, int c0, int count)
        => Col2Im(col, image, g, c0, count, g.ColCols);

    /// <summary>Col2Im from a wider matrix whose row r starts at r·<paramref name="ld"/> (the adjoint of the strided Im2Col).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Col2Im(ReadOnlySpan<float> col, Span<float> image, in Conv2dGeometry g, int c0, int count, int ld)
    {
        Check(image.Length, col.Length, g, c0, count, ld);
        int Hout = g.Hout, Wout = g.Wout, HW = g.H * g.W;
        for (int c = c0; c < c0 + count; c++)
        {
            Span<float> x = image.Slice(c * HW, HW);
            for (int ki = 0; ki < g.KH; ki++)
                for (int kj = 0; kj < g.KW; kj++)
                {
                    int row = (c * g.KH + ki) * g.KW + kj;
                    ReadOnlySpan<float> srcRow = col.Slice(row * ld, Hout * Wout);
                    int iwOff = kj * g.DW - g.PW;
                    var (owLo, owHi) = ValidRange(iwOff, g.SW, g.W, Wout);
                    if (owLo >= owHi) continue;
                    for (int oh = 0; oh < Hout; oh++)
                    {
                        int ih = oh * g.SH - g.PH + ki * g.DH;
                        if ((uint)ih >= (uint)g.H) continue;   // padding rows receive nothing
                        ReadOnlySpan<float> s = srcRow.Slice(oh * Wout, Wout);
                        Span<float> dst = x.Slice(ih * g.W);
                        if (g.SW == 1)
                        {
                            Span<float> d = dst.Slice(owLo + iwOff, owHi - owLo);
                            TensorPrimitives.Add(d, s[owLo..owHi], d);
                        }
                        else
                            for (int ow = owLo, iw = owLo * g.SW + iwOff; ow < owHi; ow++, iw += g.SW)
                                dst[iw] += s[ow];
                    }
                }
        }
    }

    /// <summary>The ow range [lo, hi) with 0 ≤ ow·stride + off &lt; W, clamped to [0, Wout).</summary>
    static (int Lo, int Hi) ValidRange(int off, int stride, int W, int Wout)
    {
        // ow ≥ ceil(−off / stride) and ow ≤ floor((W − 1 − off) / stride)
        int lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
        int last = W - 1 - off;
        int hi = last < 0 ? 0 : last / stride + 1;
        return (Math.Min(lo, Wout), Math.Clamp(hi, 0, Wout));
    }

    static void Check(int imageLen, int colLen, in Conv2dGeometry g, int c0, int count, int ld)
    {
        if (ld < g.ColCols) throw new ArgumentException($"col row stride {ld} < {g.ColCols} columns");
        if (c0 < 0 || count < 0 || c0 + count > g.C) throw new ArgumentOutOfRangeException(nameof(c0));
        if (g.KH < 1 || g.KW < 1 || g.SH < 1 || g.SW < 1 || g.DH < 1 || g.DW < 1 || g.PH < 0 || g.PW < 0)
            throw new ArgumentException($"invalid geometry {g}");
        if (imageLen < (long)g.C * g.H * g.W) throw new ArgumentException("image span too short");
        if (g.ColRows > 0 && colLen < (long)(g.ColRows - 1) * ld + g.ColCols) throw new ArgumentException("col span too short");
    }
}
