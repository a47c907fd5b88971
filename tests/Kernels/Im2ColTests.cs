// Im2ColTests.cs — Conv2dIm2Col (kernels/Cpu/Conv/Im2Col.cs): convolution as im2col + GEMM
// against a direct six-loop convolution, and Col2Im as the exact adjoint of Im2Col.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Im2Col
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture]
public class Im2ColTests
{
    // C, H, W, KH, KW, SH, SW, PH, PW, DH, DW
    static readonly Conv2dGeometry[] Geometries =
    {
        new(1, 1, 1, 1, 1),
        new(3, 7, 5, 3, 3, PH: 1, PW: 1),                 // "same" 3×3
        new(2, 13, 11, 3, 2, SH: 2, SW: 3, PH: 1, PW: 2),  // strided, asymmetric, padding > 1
        new(4, 9, 10, 3, 3, DH: 2, DW: 3, PH: 2, PW: 1),   // dilated
        new(2, 8, 8, 4, 4, SH: 2, SW: 2, PH: 1, PW: 1),    // 4×4 stride 2 (DCGAN down-sampling)
        new(3, 5, 6, 7, 7, PH: 3, PW: 3),                  // kernel larger than the image
        new(1, 4, 4, 3, 3, SW: 5, PW: 4),                  // padding so wide some rows see nothing
    };

    static IEnumerable<TestCaseData> Cases() =>
        Geometries.Select((g, i) => new TestCaseData(i).SetName($"Im2Col_{g.C}x{g.H}x{g.W}_k{g.KH}x{g.KW}_s{g.SH}{g.SW}_p{g.PH}{g.PW}_d{g.DH}{g.DW}"));

    [TestCaseSource(nameof(Cases))]
    public void ConvViaIm2ColAndGemm_MatchesDirectConvolution(int index)
    {
        var g = Geometries[index];
        const int F = 5;
        var rng = new Random(index);
        float[] x = Rand(rng, g.C * g.H * g.W), w = Rand(rng, F * g.ColRows);
        float[] col = Rand(rng, g.ColRows * g.ColCols);   // garbage: Im2Col must write every entry
        Conv2dIm2Col.Im2Col(x, col, g);
        float[] y = new float[F * g.ColCols];
        Gemm.V0Naive(false, false, F, g.ColCols, g.ColRows, 1f, w, g.ColRows, col, g.ColCols, 0f, y, g.ColCols);

        for (int f = 0; f < F; f++)
            for (int oh = 0; oh < g.Hout; oh++)
                for (int ow = 0; ow < g.Wout; ow++)
                {
                    double sum = 0, abs = 0;
                    for (int c = 0; c < g.C; c++)
                        for (int ki = 0; ki < g.KH; ki++)
                            for (int kj = 0; kj < g.KW; kj++)
                            {
                                int ih = oh * g.SH - g.PH + ki * g.DH, iw = ow * g.SW - g.PW + kj * g.DW;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                double p = (double)w[(f * g.C + c) * g.KH * g.KW + ki * g.KW + kj] * x[(c * g.H + ih) * g.W + iw];
                                sum += p; abs += Math.Abs(p);
                            }
                    // Both sides sum in double; only V0's final float rounding differs: 1 ulp of Σ|p|.
                    Assert.That(y[(f * g.Hout + oh) * g.Wout + ow], Is.EqualTo(sum).Within(abs * 1.2e-7 + 1e-30),
                        $"f={f} oh={oh} ow={ow}");
                }
    }

    [TestCaseSource(nameof(Cases))]
    public void Col2Im_IsAdjointOfIm2Col(int index)
    {
        // <im2col(x), y> = <x, col2im(y)> for all x, y is the definition of the adjoint, and it is
        // exactly what backpropagation through the unfold needs.
        var g = Geometries[index];
        var rng = new Random(100 + index);
        float[] x = Rand(rng, g.C * g.H * g.W), y = Rand(rng, g.ColRows * g.ColCols);
        float[] col = new float[y.Length], back = new float[x.Length];
        Conv2dIm2Col.Im2Col(x, col, g);
        Conv2dIm2Col.Col2Im(y, back, g);
        double lhs = 0, rhs = 0, abs = 0;
        for (int i = 0; i < y.Length; i++) { lhs += (double)col[i] * y[i]; abs += Math.Abs((double)col[i] * y[i]); }
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * back[i];
        // back[] holds float sums of up to KH·KW terms, each rounding ≤ u = 2^-24 relative; KH·KW·u·Σ|·| bounds it.
        Assert.That(rhs, Is.EqualTo(lhs).Within((g.KH * g.KW + 1) * Math.Pow(2, -24) * abs + 1e-12));
    }

    [Test]
    public void ChannelRanges_ComposeToWholeImage()
    {
        var g = new Conv2dGeometry(5, 9, 7, 3, 3, SH: 2, PH: 1, PW: 1);
        var rng = new Random(9);
        float[] x = Rand(rng, g.C * g.H * g.W), y = Rand(rng, g.ColRows * g.ColCols);
        float[] whole = new float[y.Length], parts = new float[y.Length];
        Conv2dIm2Col.Im2Col(x, whole, g);
        Conv2dIm2Col.Im2Col(x, parts, g, 0, 2);
        Conv2dIm2Col.Im2Col(x, parts, g, 2, 3);
        Assert.That(parts, Is.EqualTo(whole));

        float[] wholeBack = new float[x.Length], partsBack = new float[x.Length];
        Conv2dIm2Col.Col2Im(y, wholeBack, g);
        Conv2dIm2Col.Col2Im(y, partsBack, g, 0, 3);
        Conv2dIm2Col.Col2Im(y, partsBack, g, 3, 2);
        Assert.That(partsBack, Is.EqualTo(wholeBack));
    }

    [TestCase(28, 3, 1, 1, 1, 28)]
    [TestCase(28, 4, 2, 1, 1, 14)]
    [TestCase(32, 3, 1, 0, 2, 28)]
    [TestCase(7, 3, 2, 0, 1, 3)]
    [TestCase(2, 5, 1, 0, 1, 0)]    // kernel wider than the input: no output
    public void OutputSize_MatchesPyTorchFormula(int n, int k, int s, int p, int d, int expected)
        => Assert.That(Conv2dIm2Col.OutputSize(n, k, s, p, d), Is.EqualTo(expected));

    static float[] Rand(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextSingle() * 2f - 1f;
        return x;
    }
}
