// ConvTests.cs — both GPU conv2d forward versions (kernels/Gpu/Conv2d.cs: V0 im2col + GEMM, V1
// implicit GEMM) against a plain-loop convolution in double, on ILGPU's CPU accelerator and, where
// present, CUDA (otherwise ignored). Shapes cross the implicit GEMM's tile edges: N·P above and below
// 64 columns, Fg above 64 rows, K = C·KH·KW above 16 and not a multiple of it, stride, padding,
// dilation, groups, 1×1 and a kernel as large as the image.
// Tolerance: float sums of ≤ 75 products against double, 1e-5 relative (20× on CUDA: contracted FMAs).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Conv
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class ConvTests
{
    record Case(int N, int C, int H, int W, int Cout, int KH, int KW, int SH = 1, int SW = 1, int PH = 0, int PW = 0, int DH = 1, int DW = 1, int Groups = 1)
    {
        public int Hout => (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
        public int Wout => (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
        public ConvGeometry Geometry => new(C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, Hout, Wout);
    }

    static readonly Case[] Cases =
    [
        new(2, 3, 5, 7, 4, 3, 3, PH: 1, PW: 1),                                     // N·P = 70: two column blocks; K = 27
        new(1, 4, 6, 5, 6, 3, 2, SH: 2, PH: 2, DH: 2, Groups: 2),                   // stride, padding, dilation, groups
        new(3, 5, 4, 4, 70, 1, 1),                                                  // 1×1, Fg = 70: two row blocks
        new(2, 1, 5, 5, 1, 5, 5, PH: 2, PW: 2),                                     // kernel as large as the image
        new(1, 2, 1, 1, 3, 1, 1),                                                   // one pixel
    ];

    /// <summary>y[n, co, oh, ow] = Σ_{c in co's group, ki, kj} w[co, c, ki, kj]·x[n, c, ih, iw], in double.</summary>
    static float[] Reference(Case s, float[] x, float[] w)
    {
        int Fg = s.Cout / s.Groups, Cg = s.C / s.Groups, Ho = s.Hout, Wo = s.Wout;
        var y = new float[s.N * s.Cout * Ho * Wo];
        for (int n = 0; n < s.N; n++)
            for (int co = 0; co < s.Cout; co++)
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++)
                    {
                        double acc = 0;
                        int gi = co / Fg;
                        for (int c = 0; c < Cg; c++)
                            for (int ki = 0; ki < s.KH; ki++)
                                for (int kj = 0; kj < s.KW; kj++)
                                {
                                    int ih = oh * s.SH - s.PH + ki * s.DH, iw = ow * s.SW - s.PW + kj * s.DW;
                                    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                    acc += (double)w[((co * Cg + c) * s.KH + ki) * s.KW + kj] * x[((n * s.C + gi * Cg + c) * s.H + ih) * s.W + iw];
                                }
                        y[((n * s.Cout + co) * Ho + oh) * Wo + ow] = (float)acc;
                    }
        return y;
    }

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void Conv2dForward_EveryVersion_MatchesPlainLoops(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        float tol = kind == GpuDevices.Cuda ? 2e-4f : 1e-5f;
        int seed = 0;
        foreach (var s in Cases)
        {
            var g = s.Geometry;
            var x = GpuDevices.Rand(++seed, s.N * s.C * s.H * s.W);
            var w = GpuDevices.Rand(++seed, s.Cout * (s.C / s.Groups) * s.KH * s.KW);
            var expected = Reference(s, x, w);
            using var gx = gpu.Accelerator.Allocate1D(x); using var gw = gpu.Accelerator.Allocate1D(w);
            using var gy = gpu.Accelerator.Allocate1D<float>(expected.Length);
            using var col = gpu.Accelerator.Allocate1D<float>(Math.Max(1, g.ColRows * g.P));
            foreach (var version in Enum.GetValues<GpuConvVersion>())
            {
                gy.MemSetToZero();
                Conv2d.Forward(gpu, version, GpuGemmVersion.V0Naive, gx.View, gw.View, gy.View, col.View, s.N, s.Cout, s.Groups, g);
                var y = gy.GetAsArray1D();
                for (int i = 0; i < y.Length; i++)
                    Assert.That(y[i], Is.EqualTo(expected[i]).Within(tol * MathF.Max(1f, MathF.Abs(expected[i]))), $"{version} {s}: y[{i}] of {y.Length}");
            }
        }
    }

    [Test]
    public void Conv2dForwardImplicit_ViewsThatDoNotFit_AreAClearError()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        var s = new Case(2, 3, 5, 5, 4, 3, 3);
        using var small = gpu.Accelerator.Allocate1D<float>(10);
        var e = Assert.Throws<ArgumentException>(() => Conv2d.ForwardImplicit(gpu, small.View, small.View, small.View, s.N, s.Cout, 1, s.Geometry))!;
        Assert.That(e.Message, Does.Contain("x=10").And.Contain("N=2, C=3, H=5, W=5"));
    }
}
