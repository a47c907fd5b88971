// Conv2dTests.cs — every Conv2d version (kernels/Cpu/Conv/Conv2d.cs) against V0PerImage on odd
// shapes, for the three maps, and the promise of the same bits on 1 and 2 threads (V1–V8).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Conv2d
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class Conv2dTests
{
    static readonly Conv2dProblem[] Problems =
    {
        new(1, new Conv2dGeometry(1, 1, 1, 1, 1), 1),                              // 1×1 everything
        new(7, new Conv2dGeometry(3, 13, 7, 3, 3, PH: 1, PW: 1), 5),               // "same" 3×3, odd sizes
        new(13, new Conv2dGeometry(4, 7, 7, 1, 1), 6, Groups: 2),                  // pointwise, grouped
        new(5, new Conv2dGeometry(6, 13, 11, 4, 4, SH: 2, SW: 2, PH: 1, PW: 1), 9, Groups: 3), // strided, grouped
        new(31, new Conv2dGeometry(7, 9, 10, 3, 3, DH: 2, PH: 2, PW: 1), 13),      // dilated, many images
        new(65, new Conv2dGeometry(16, 14, 14, 3, 3, PH: 1, PW: 1), 16),           // enough work for 16 chunks
        new(0, new Conv2dGeometry(3, 5, 5, 3, 3), 2),                              // empty batch
    };

    static IEnumerable<TestCaseData> Cases() => Problems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V1MatchesV0_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}_to{p.Cout}_g{p.Groups}"));

    [TestCaseSource(nameof(Cases))]
    public void V1_MatchesV0_AllThreeMaps(int index)
    {
        var p = Problems[index];
        var rng = new Random(index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y1, dx1, dw1) = RunAll(Conv2dVersion.V1Chunked, x, w, gy, p);
        // Forward and input-grad run the same GEMMs per image: identical bits. Weight-grad sums the
        // batch in chunks, so only rounding differs: relative 1e-5 of the summed magnitude.
        Assert.That(y1, Is.EqualTo(y0));
        Assert.That(dx1, Is.EqualTo(dx0));
        for (int i = 0; i < dw0.Length; i++)
            Assert.That(dw1[i], Is.EqualTo(dw0[i]).Within(1e-5 * (1 + p.N * p.P * 0.5)), $"dw[{i}]");
    }

    static IEnumerable<TestCaseData> V2Cases() => Problems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V2MatchesV0_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}_to{p.Cout}_g{p.Groups}"));

    /// <summary>V2 batches images into one GEMM (Problems 2 and 5 have several images per batch and a
    /// short last batch). Each forward / input-grad element is still one GEMM dot product in the same
    /// order, so those bits equal V0's; weight-grad sums over nb·P at once, so rounding differs.</summary>
    [TestCaseSource(nameof(V2Cases))]
    public void V2_MatchesV0_AllThreeMaps(int index)
    {
        var p = Problems[index];
        var rng = new Random(index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y2, dx2, dw2) = RunAll(Conv2dVersion.V2Batched, x, w, gy, p);
        Assert.That(y2, Is.EqualTo(y0));
        Assert.That(dx2, Is.EqualTo(dx0));
        for (int i = 0; i < dw0.Length; i++)
            Assert.That(dw2[i], Is.EqualTo(dw0[i]).Within(1e-5 * (1 + p.N * p.P * 0.5)), $"dw[{i}]");
    }

    /// <summary>V3's extra shapes: Cin = 1 stems, Cout not a multiple of its 8-filter tile, padding 0 and 2,
    /// stride 2 with a 4×4 kernel (M4), dilation with stride, 1×1 with stride, maps of 1 pixel, groups.</summary>
    static readonly Conv2dProblem[] V3Problems =
    {
        new(3, new Conv2dGeometry(1, 28, 28, 3, 3, PH: 1, PW: 1), 32),             // K2 stem shape, 3 images
        new(2, new Conv2dGeometry(1, 5, 3, 3, 3, PH: 2, PW: 2), 1),                // Cin = Cout = 1, padding 2 (> k − 1 − p for input-grad)
        new(5, new Conv2dGeometry(11, 7, 13, 3, 3), 17),                           // padding 0, primes
        new(4, new Conv2dGeometry(3, 14, 14, 4, 4, SH: 2, SW: 2, PH: 1, PW: 1), 7),// M4 discriminator conv geometry
        new(3, new Conv2dGeometry(5, 11, 9, 3, 2, SH: 2, SW: 3, PH: 1, PW: 0, DH: 2, DW: 3), 3), // stride + dilation, uneven
        new(2, new Conv2dGeometry(7, 9, 9, 1, 1, SH: 2, SW: 2), 9),                // 1×1 strided
        new(6, new Conv2dGeometry(4, 1, 1, 3, 3, PH: 1, PW: 1), 8, Groups: 2),     // 1×1 maps, grouped
        new(9, new Conv2dGeometry(12, 5, 6, 3, 3, PH: 1, PW: 1), 18, Groups: 3),   // grouped "same", 9 images (short last batch)
        new(2, new Conv2dGeometry(13, 7, 7, 5, 5, PH: 1, PW: 3, DH: 1, DW: 1), 11),// uneven padding, 5×5
        new(3, new Conv2dGeometry(4, 5, 6, 1, 1, PH: 1, PW: 1), 5),                // padding beyond the kernel's reach
        new(4, new Conv2dGeometry(9, 7, 7, 3, 3, PH: 1, PW: 1), 16),               // 7×7 "same": shared-padding grid
        new(3, new Conv2dGeometry(6, 8, 9, 3, 3, PH: 2, PW: 1, DH: 2, DW: 1), 8),  // dilated "same", shared grid
    };

    static IEnumerable<TestCaseData> V3Cases() => Problems.Concat(V3Problems).Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V3MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}x{p.Geo.KW}_s{p.Geo.SH}{p.Geo.SW}_to{p.Cout}_g{p.Groups}"));

    /// <summary>V3 sums each output in its own order (implicit GEMM, full K in registers), so it matches
    /// V0 to float rounding: relative 1e-5 of the number of terms summed, as for weight-grad above.</summary>
    [TestCaseSource(nameof(V3Cases))]
    public void V3_MatchesV0_AllThreeMaps(int index)
    {
        var all = Problems.Concat(V3Problems).ToArray();
        var p = all[index];
        var rng = new Random(100 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y3, dx3, dw3) = RunAll(Conv2dVersion.V3Implicit, x, w, gy, p);
        double tolY = 1e-5 * (1 + p.KG), tolDx = 1e-5 * (1 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y3[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx3[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw3[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
    }

    /// <summary>V4's extra shapes: GEMM rows M = 1, 2, 3 (thin tile) in forward (Cout) and input-grad (Cin),
    /// the stem and head of M1, M4's last transposed convolution (64 → 1, 4 × 4 stride 2 pad 1, whose
    /// input-grad has Cin = 1), thin rows with groups, 1 × 1 on a 7 × 7 map and long K on a small map (both
    /// V2's weight-grad), batch 1.</summary>
    static readonly Conv2dProblem[] V4Problems =
    {
        new(1, new Conv2dGeometry(1, 28, 28, 3, 3, PH: 1, PW: 1), 32),             // stem, batch 1: dx with Cin = 1
        new(3, new Conv2dGeometry(32, 28, 28, 3, 3, PH: 1, PW: 1), 1),             // head: forward with Cout = 1
        new(2, new Conv2dGeometry(1, 28, 28, 4, 4, SH: 2, SW: 2, PH: 1, PW: 1), 13), // M4's 64 → 1 transposed conv, as its adjoint
        new(5, new Conv2dGeometry(2, 11, 13, 3, 3), 3),                            // M = 2 and 3, padding 0, primes
        new(3, new Conv2dGeometry(3, 9, 7, 5, 5, PH: 2, PW: 2), 2),                // M = 3 and 2, padding 2
        new(2, new Conv2dGeometry(1, 17, 19, 3, 3, SH: 2, SW: 2, PH: 1, PW: 1), 1),// Cin = Cout = 1, stride 2
        new(4, new Conv2dGeometry(6, 10, 9, 3, 3, PH: 1, PW: 1), 3, Groups: 3),    // one row per group (thin, grouped)
        new(7, new Conv2dGeometry(17, 7, 7, 1, 1), 11),                            // pointwise 7 × 7: weight-grad by V2
        new(1, new Conv2dGeometry(5, 1, 37, 1, 3, PW: 1), 1),                      // one-row image (conv1d), Cout = 1
        new(2, new Conv2dGeometry(230, 4, 4, 3, 3, PH: 1, PW: 1), 5),              // K = 2070 on narrow batches: weight-grad by V2
    };

    static IEnumerable<TestCaseData> V4Cases() => Problems.Concat(V3Problems).Concat(V4Problems).Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V4MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}x{p.Geo.KW}_s{p.Geo.SH}{p.Geo.SW}_to{p.Cout}_g{p.Groups}"));

    /// <summary>V4 sums each output in its own order, as V3 does: tolerance as for V3.</summary>
    [TestCaseSource(nameof(V4Cases))]
    public void V4_MatchesV0_AllThreeMaps(int index)
    {
        var all = Problems.Concat(V3Problems).Concat(V4Problems).ToArray();
        var p = all[index];
        var rng = new Random(200 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y4, dx4, dw4) = RunAll(Conv2dVersion.V4Shaped, x, w, gy, p);
        double tolY = 1e-5 * (1 + p.KG), tolDx = 1e-5 * (1 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y4[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx4[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw4[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
    }

    /// <summary>V5's extra shapes: GEMM rows of exactly 64 and 128 (whole pixel-tile panels) and 65 (a one-row
    /// panel), 7 × 7 and 14 × 14 maps (pixel groups crossing images), a strided forward on the pixel path,
    /// groups with 64 filters each, pixel counts that are not multiples of 6, 16 or 48, and a one-channel
    /// input-grad with dilation, uneven padding and rows wider than a vector.</summary>
    static readonly Conv2dProblem[] V5Problems =
    {
        new(5, new Conv2dGeometry(64, 7, 7, 3, 3, PH: 1, PW: 1), 128),             // M1's 7 × 7, fewer images
        new(3, new Conv2dGeometry(65, 14, 14, 3, 3, PH: 1, PW: 1), 64),            // dx rows 65: one 64-panel + 1 row
        new(2, new Conv2dGeometry(64, 14, 13, 3, 3, SH: 2, SW: 2, PH: 1, PW: 1), 65),  // strided, 65 filters
        new(3, new Conv2dGeometry(128, 5, 3, 1, 1), 64, Groups: 2),                // pointwise, 64 per group, 15 pixels
        new(7, new Conv2dGeometry(8, 11, 9, 3, 3, PH: 1, PW: 1), 70),              // 693 pixels, few channels
        new(3, new Conv2dGeometry(1, 9, 20, 3, 5, PH: 2, PW: 1, DH: 2), 5),        // Cin = 1 (thin dx): dilated, uneven, 20 wide
    };

    static IEnumerable<TestCaseData> V5Cases() => Problems.Concat(V3Problems).Concat(V4Problems).Concat(V5Problems).Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V5MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}x{p.Geo.KW}_s{p.Geo.SH}{p.Geo.SW}_to{p.Cout}_g{p.Groups}"));

    /// <summary>V5 sums each forward and input-grad output in k order as V3 does, and weight-grad over pixels in
    /// image order: tolerances as for V3.</summary>
    [TestCaseSource(nameof(V5Cases))]
    public void V5_MatchesV0_AllThreeMaps(int index)
    {
        var all = Problems.Concat(V3Problems).Concat(V4Problems).Concat(V5Problems).ToArray();
        var p = all[index];
        var rng = new Random(300 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y5, dx5, dw5) = RunAll(Conv2dVersion.V5Pixels, x, w, gy, p);
        double tolY = 1e-5 * (1 + p.KG), tolDx = 1e-5 * (1 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y5[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx5[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw5[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
    }

    [Test]
    public void V5_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V5Pixels, seed: 10, V5Problems[0], V5Problems[1], V5Problems[2], V5Problems[4], V5Problems[5], V3Problems[0], V4Problems[1]);

    /// <summary>V6Stem's own kernel covers Cin = 1, 3 × 3, stride 1 input-grads: odd maps, widths across the
    /// 32-column chunk and heights across the 4-row block, Cout 1/3/32/33, padding 0/1/2 (uneven). Stride 2,
    /// a 5 × 5 kernel and Cin = 2 check that other shapes fall back to the routed versions.</summary>
    static readonly Conv2dProblem[] V6Problems =
    {
        new(3, new Conv2dGeometry(1, 28, 28, 3, 3, PH: 1, PW: 1), 32),             // K2 stem, 3 images
        new(5, new Conv2dGeometry(1, 7, 13, 3, 3, PH: 1, PW: 1), 1),               // Cout = 1, odd map
        new(2, new Conv2dGeometry(1, 9, 35, 3, 3), 3),                             // padding 0, two column chunks
        new(3, new Conv2dGeometry(1, 5, 33, 3, 3, PH: 2, PW: 1), 33),              // padding 2 × 1, 33 columns
        new(1, new Conv2dGeometry(1, 1, 1, 3, 3, PH: 1, PW: 1), 4),                // one pixel
        new(4, new Conv2dGeometry(1, 13, 11, 3, 3, PH: 0, PW: 2), 7),              // padding beyond the kernel's reach (columns)
        new(3, new Conv2dGeometry(1, 11, 9, 3, 3, SH: 2, SW: 2, PH: 1, PW: 1), 5), // stride 2: routed
        new(2, new Conv2dGeometry(1, 9, 9, 5, 5, PH: 2, PW: 2), 3),                // 5 × 5: routed
        new(2, new Conv2dGeometry(2, 9, 7, 3, 3, PH: 1, PW: 1), 3),                // Cin = 2: routed
    };

    static IEnumerable<TestCaseData> V6Cases() => V6Problems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V6MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}_s{p.Geo.SH}_p{p.Geo.PH}{p.Geo.PW}_to{p.Cout}"));

    /// <summary>V6's stencil sums each dx pixel channel by channel (taps ki = 2, 1, 0 within a channel), V0 in
    /// GEMM k order: rounding only, the same tolerance as V3–V5. With bias, the bias is the accumulator's start.</summary>
    [TestCaseSource(nameof(V6Cases))]
    public void V6_MatchesV0_AllThreeMapsAndBias(int index)
    {
        var p = V6Problems[index];
        var rng = new Random(600 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength), b = Rand(rng, p.Cin);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y6, dx6, dw6) = RunAll(Conv2dVersion.V6Stem, x, w, gy, p);
        double tolY = 1e-5 * (1 + p.KG), tolDx = 1e-5 * (2 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y6[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx6[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw6[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
        float[] dxb = Nan(p.InputLength);
        Conv2d.InputGrad(Conv2dVersion.V6Stem, gy, w, b, dxb, p);
        for (int i = 0; i < dx0.Length; i++)
            Assert.That(dxb[i], Is.EqualTo(dx0[i] + b[i / p.HW % p.Cin]).Within(tolDx), $"dx+bias[{i}]");
    }

    [Test]
    public void V6_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V6Stem, seed: 11, V6Problems[0], V6Problems[1], V6Problems[3], V6Problems[5]);

    /// <summary>V7's stencils cover the forward and weight-grad of Cin = 1, 3 × 3, stride-1 convolutions (V6's shapes plus
    /// batches that split into 1, 2 and 8 weight-grad parts, one 16-column strip, 47 columns, 5 rows, Cout 1/2/33).</summary>
    static readonly Conv2dProblem[] V7Problems = V6Problems.Concat(new Conv2dProblem[]
    {
        new(9, new Conv2dGeometry(1, 5, 16, 3, 3, PH: 1, PW: 1), 2),               // one strip, 9 images: 2 weight-grad parts
        new(37, new Conv2dGeometry(1, 6, 47, 3, 3, PH: 1, PW: 2), 33),             // 8 parts (uneven), 47 + 4 wide
        new(2, new Conv2dGeometry(1, 1, 40, 3, 3, PH: 1, PW: 0), 1),               // one-row image, no column padding
    }).ToArray();

    static IEnumerable<TestCaseData> V7Cases() => V7Problems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V7MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}_s{p.Geo.SH}_p{p.Geo.PH}{p.Geo.PW}_to{p.Cout}"));

    /// <summary>V7's forward stencil sums bias, then taps in (ki, kj) order; its weight-grad sums per part in column
    /// lanes, then lanes and parts: rounding only against V0, the same tolerances as V3–V6.</summary>
    [TestCaseSource(nameof(V7Cases))]
    public void V7_MatchesV0_AllThreeMapsAndBias(int index)
    {
        var p = V7Problems[index];
        var rng = new Random(700 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength), b = Rand(rng, p.Cout);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y7, dx7, dw7) = RunAll(Conv2dVersion.V7, x, w, gy, p);
        double tolY = 1e-5 * (2 + p.KG), tolDx = 1e-5 * (2 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y7[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx7[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw7[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
        float[] yb = Nan(p.OutputLength);
        Conv2d.Forward(Conv2dVersion.V7, x, w, b, yb, p);
        for (int i = 0; i < y0.Length; i++)
            Assert.That(yb[i], Is.EqualTo(y0[i] + b[i / p.P % p.Cout]).Within(tolY), $"y+bias[{i}]");
    }

    [Test]
    public void V7_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V7, seed: 12, V7Problems[0], V7Problems[1], V7Problems[3], V7Problems[9], V7Problems[10],
            V5Problems[0], V5Problems[1], V5Problems[2], V5Problems[4], V3Problems[0], V4Problems[1], Problems[5]);

    /// <summary>V7 off the stem is V6's route with prefetching (V4 or V5 tiles, V2/V3/V5 weight-grads): every shape
    /// of the earlier versions' tests against V0, tolerances as for V5.</summary>
    static readonly Conv2dProblem[] V7RoutedProblems = Problems.Concat(V3Problems).Concat(V4Problems).Concat(V5Problems).ToArray();

    static IEnumerable<TestCaseData> V7RoutedCases() => V7RoutedProblems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V7RoutedMatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_k{p.Geo.KH}x{p.Geo.KW}_s{p.Geo.SH}{p.Geo.SW}_to{p.Cout}_g{p.Groups}"));

    [TestCaseSource(nameof(V7RoutedCases))]
    public void V7_Routed_MatchesV0_AllThreeMaps(int index)
    {
        var p = V7RoutedProblems[index];
        var rng = new Random(800 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y7, dx7, dw7) = RunAll(Conv2dVersion.V7, x, w, gy, p);
        double tolY = 1e-5 * (1 + p.KG), tolDx = 1e-5 * (1 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y7[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx7[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw7[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
    }

    /// <summary>Prefetching only moves memory into cache: V7 off the stem gives V6's route's bits exactly.</summary>
    [Test]
    public void V7_Routed_SameBitsAsV6()
    {
        foreach (var p in V7RoutedProblems.Where(q => q.Cin > 1))
        {
            var rng = new Random(13);
            float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
            var six = RunAll(Conv2dVersion.V6Stem, x, w, gy, p);
            var seven = RunAll(Conv2dVersion.V7, x, w, gy, p);
            Assert.That(seven.Y, Is.EqualTo(six.Y), $"{p}: y");
            Assert.That(seven.Dx, Is.EqualTo(six.Dx), $"{p}: dx");
            Assert.That(seven.Dw, Is.EqualTo(six.Dw), $"{p}: dw");
        }
    }

    /// <summary>V8's Winograd F(2×2, 3×3) shapes: forward where Cin % 16 = 0 and Cout % 32 = 0, input-grad where Cout % 16 = 0
    /// and Cin % 32 = 0 (64-filter panels, or 32-filter ones where only 32 divides); odd maps whose last tile row/column overhangs (7, 5, 1, 3 × 9), padding 0, 1 and 2 (the
    /// input-grad then pads 2, 1, 0), one and several batches per part, several panels. Problems 6 and 7 fit only one map
    /// (the other runs V7's tiles); the rest fit both.</summary>
    static readonly Conv2dProblem[] V8Problems =
    {
        new(5, new Conv2dGeometry(128, 7, 7, 3, 3, PH: 1, PW: 1), 128),            // M1's 7 × 7, 3 batches of 2 images
        new(3, new Conv2dGeometry(64, 14, 14, 3, 3, PH: 1, PW: 1), 64),            // M1's 14 × 14, one image per batch
        new(2, new Conv2dGeometry(64, 5, 5, 3, 3, PH: 1, PW: 1), 192),             // odd map, three output panels
        new(4, new Conv2dGeometry(64, 1, 1, 3, 3, PH: 1, PW: 1), 64),              // 1 × 1 map: one tile, three quarters overhang
        new(3, new Conv2dGeometry(64, 6, 9, 3, 3), 64),                            // no padding (input-grad pads 2), 4 × 7 out
        new(2, new Conv2dGeometry(64, 4, 3, 3, 3, PH: 2, PW: 2), 64),              // padding 2 (input-grad pads 0), 6 × 5 out
        new(3, new Conv2dGeometry(16, 7, 7, 3, 3, PH: 1, PW: 1), 64),              // forward only (Cin 16; dx has 16 outputs)
        new(2, new Conv2dGeometry(64, 7, 7, 3, 3, PH: 1, PW: 1), 48),              // input-grad only (Cout 48: no 32-filter panels)
        new(1, new Conv2dGeometry(256, 7, 7, 3, 3, PH: 1, PW: 1), 128),            // M1's up2 conv1, one image
        new(2, new Conv2dGeometry(32, 28, 28, 3, 3, PH: 1, PW: 1), 32),            // K2's 32-channel map: 32 × 12 panels
        new(3, new Conv2dGeometry(96, 9, 5, 3, 3, PH: 1, PW: 1), 96),              // 96 = three 32-filter panels, odd map
        new(2, new Conv2dGeometry(64, 6, 5, 3, 3, PH: 1, PW: 0), 64),              // padding differs per axis: 6 × 3 out
        new(2, new Conv2dGeometry(32, 3, 8, 3, 3, PH: 0, PW: 2), 32),              // 1 × 10 out, input-grad pads (2, 0)
        new(0, new Conv2dGeometry(64, 7, 7, 3, 3, PH: 1, PW: 1), 64),              // empty batch
    };

    static IEnumerable<TestCaseData> V8Cases() => V8Problems.Select((p, i) =>
        new TestCaseData(i).SetName($"Conv2d_V8MatchesV0_{i}_N{p.N}_C{p.Cin}x{p.Geo.H}x{p.Geo.W}_p{p.Geo.PH}{p.Geo.PW}_to{p.Cout}"));

    /// <summary>Winograd rounds differently from a direct sum (the transforms add up to 16 terms before and after the
    /// channel sums, G holds halves): the outputs must match V0 within the same tolerances as the direct versions,
    /// and the bias must be added once.</summary>
    [TestCaseSource(nameof(V8Cases))]
    public void V8_MatchesV0_AllThreeMapsAndBias(int index)
    {
        var p = V8Problems[index];
        var rng = new Random(900 + index);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
        float[] b = Rand(rng, p.Cout), bx = Rand(rng, p.Cin);
        var (y0, dx0, dw0) = RunAll(Conv2dVersion.V0PerImage, x, w, gy, p);
        var (y8, dx8, dw8) = RunAll(Conv2dVersion.V8Winograd, x, w, gy, p);
        double tolY = 1e-5 * (2 + p.KG), tolDx = 1e-5 * (2 + p.CoutG * p.Geo.KH * p.Geo.KW), tolDw = 1e-5 * (1 + p.N * p.P * 0.5);
        for (int i = 0; i < y0.Length; i++) Assert.That(y8[i], Is.EqualTo(y0[i]).Within(tolY), $"y[{i}]");
        for (int i = 0; i < dx0.Length; i++) Assert.That(dx8[i], Is.EqualTo(dx0[i]).Within(tolDx), $"dx[{i}]");
        for (int i = 0; i < dw0.Length; i++) Assert.That(dw8[i], Is.EqualTo(dw0[i]).Within(tolDw), $"dw[{i}]");
        float[] yb = Nan(p.OutputLength), dxb = Nan(p.InputLength);
        Conv2d.Forward(Conv2dVersion.V8Winograd, x, w, b, yb, p);
        Conv2d.InputGrad(Conv2dVersion.V8Winograd, gy, w, bx, dxb, p);
        for (int i = 0; i < y0.Length; i++)
            Assert.That(yb[i], Is.EqualTo(y0[i] + b[i / p.P % p.Cout]).Within(tolY), $"y+bias[{i}]");
        for (int i = 0; i < dx0.Length; i++)
            Assert.That(dxb[i], Is.EqualTo(dx0[i] + bx[i / p.HW % p.Cin]).Within(tolDx), $"dx+bias[{i}]");
    }

    /// <summary>The Winograd error is bounded like a direct sum's, not merely small on random data: with x, w and gy all
    /// positive, no sum can cancel, so each map's relative error against a double-precision sum shows the transforms'
    /// rounding directly (forward and input-grad F(2 × 2, 3 × 3), weight-grad F(3 × 3, 2 × 2)). V8_MatchesV0's tolerance,
    /// 1e-5 per summed term, is looser than this.</summary>
    [Test]
    public void V8_RelativeErrorStaysNearFp32Rounding()
    {
        var p = V8Problems[0];
        var g = p.Geo;
        var rng = new Random(5);
        float[] x = Positive(rng, p.InputLength), w = Positive(rng, p.WeightLength), gy = Positive(rng, p.OutputLength);
        float[] y = Nan(p.OutputLength), dx = Nan(p.InputLength), dw = Nan(p.WeightLength);
        Conv2d.Forward(Conv2dVersion.V8Winograd, x, w, y, p);
        Conv2d.InputGrad(Conv2dVersion.V8Winograd, gy, w, dx, p);
        Conv2d.WeightGrad(Conv2dVersion.V8Winograd, x, gy, dw, p);
        // All three maps are sums of the same trilinear terms x · w · gy over (n, f, c, output pixel, tap).
        double[] ey = new double[y.Length], edx = new double[dx.Length], edw = new double[dw.Length];
        for (int n = 0; n < p.N; n++)
            for (int f = 0; f < p.Cout; f++)
                for (int c = 0; c < p.Cin; c++)
                    for (int oy = 0; oy < g.Hout; oy++)
                        for (int ox = 0; ox < g.Wout; ox++)
                            for (int ki = 0; ki < 3; ki++)
                                for (int kj = 0; kj < 3; kj++)
                                {
                                    int iy = oy + ki - g.PH, ix = ox + kj - g.PW;
                                    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                                    int xi = ((n * p.Cin + c) * g.H + iy) * g.W + ix, wi = ((f * p.Cin + c) * 3 + ki) * 3 + kj;
                                    int yi = ((n * p.Cout + f) * g.Hout + oy) * g.Wout + ox;
                                    ey[yi] += (double)x[xi] * w[wi];
                                    edx[xi] += (double)gy[yi] * w[wi];
                                    edw[wi] += (double)gy[yi] * x[xi];
                                }
        // A direct fp32 sum of ~1000 positive terms errs by ~1e-6 relative; Winograd's transforms add a few roundings.
        Assert.That(WorstRelative(y, ey), Is.LessThan(2e-5), "forward");
        Assert.That(WorstRelative(dx, edx), Is.LessThan(2e-5), "input-grad");
        Assert.That(WorstRelative(dw, edw), Is.LessThan(2e-5), "weight-grad");
    }

    static float[] Positive(Random rng, long n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.NextDouble();
        return a;
    }

    static double WorstRelative(float[] got, double[] exact)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - exact[i]) / exact[i]);
        return worst;
    }

    [Test]
    public void V8_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V8Winograd, seed: 14, V8Problems[0], V8Problems[1], V8Problems[2], V8Problems[6], V8Problems[7],
            V8Problems[9], V8Problems[10]);

    /// <summary>The routed entry points take V8 on AVX-512 machines, V2Batched elsewhere; V8 runs V7 wherever Winograd does
    /// not fit (the stem: one input channel).</summary>
    [Test]
    public void Best_IsV8OrV7OnAvx512()
    {
        var stem = new Conv2dProblem(64, new Conv2dGeometry(1, 28, 28, 3, 3, PH: 1, PW: 1), 32);
        bool avx512 = System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
        Assert.That(Conv2d.BestForward(stem), Is.EqualTo(avx512 ? Conv2dVersion.V8Winograd : Conv2dVersion.V2Batched));
        Assert.That(Conv2d.BestInputGrad(stem), Is.EqualTo(avx512 ? Conv2dVersion.V8Winograd : Conv2dVersion.V2Batched));
        Assert.That(Conv2d.BestWeightGrad(stem), Is.EqualTo(avx512 ? Conv2dVersion.V8Winograd : Conv2dVersion.V2Batched));
        var rng = new Random(15);
        float[] x = Rand(rng, stem.InputLength), w = Rand(rng, stem.WeightLength), gy = Rand(rng, stem.OutputLength);
        var seven = RunAll(Conv2dVersion.V7, x, w, gy, stem);
        var eight = RunAll(Conv2dVersion.V8Winograd, x, w, gy, stem);
        Assert.That(eight.Y, Is.EqualTo(seven.Y));
        Assert.That(eight.Dx, Is.EqualTo(seven.Dx));
        Assert.That(eight.Dw, Is.EqualTo(seven.Dw));
    }

    /// <summary>Conv2d.BiasGrad (the bias gradient, Σ over images and pixels per channel) against a double sum on
    /// odd shapes, and the same bits on 1 and 2 threads (channels split over the pool).</summary>
    [Test]
    public void BiasGrad_MatchesDoubleSum_SameBitsOnOneAndTwoThreads()
    {
        foreach (var (N, C, P) in new[] { (1, 1, 1), (3, 5, 7), (64, 32, 784), (7, 33, 17), (0, 3, 4) })
        {
            var rng = new Random(12);
            float[] gy = Rand(rng, (long)N * C * P);
            int saved = WorkerPool.Threads;
            try
            {
                WorkerPool.Threads = 1;
                float[] one = Nan(C); Conv2d.BiasGrad(gy, one, N, C, P);
                WorkerPool.Threads = 2;
                float[] two = Nan(C); Conv2d.BiasGrad(gy, two, N, C, P);
                Assert.That(two, Is.EqualTo(one), $"({N}, {C}, {P})");
                for (int c = 0; c < C; c++)
                {
                    double s = 0;
                    for (int n = 0; n < N; n++) for (int i = 0; i < P; i++) s += gy[((long)n * C + c) * P + i];
                    Assert.That(one[c], Is.EqualTo(s).Within(1e-5 * (1 + N * P * 0.5)), $"({N}, {C}, {P}): db[{c}]");
                }
            }
            finally { WorkerPool.Threads = saved; }
        }
        Assert.That(() => Conv2d.BiasGrad(new float[5], new float[2], 1, 2, 3),
            Throws.ArgumentException.With.Message.Contains("(N, C, P) = (1, 2, 3)"));
    }

    /// <summary>The transposed convolution's bias (one value per dx channel) in every version: V3 and V4 add
    /// it in the store (phases no tap reaches included), earlier versions in a second pass.</summary>
    [Test]
    public void InputGradWithBias_AddsBiasPerInputChannel(
        [Values(Conv2dVersion.V0PerImage, Conv2dVersion.V2Batched, Conv2dVersion.V3Implicit, Conv2dVersion.V4Shaped, Conv2dVersion.V5Pixels)] Conv2dVersion v)
    {
        var problems = new[]
        {
            V4Problems[2], V4Problems[5], V3Problems[3], V3Problems[0], V3Problems[1],
            new Conv2dProblem(3, new Conv2dGeometry(4, 9, 8, 1, 1, SH: 2, SW: 3), 5),  // stride > kernel: phases no tap reaches
        };
        foreach (var p in problems)
        {
            var rng = new Random(6);
            float[] gy = Rand(rng, p.OutputLength), w = Rand(rng, p.WeightLength), b = Rand(rng, p.Cin);
            float[] dx0 = Nan(p.InputLength), dx = Nan(p.InputLength);
            Conv2d.InputGrad(Conv2dVersion.V0PerImage, gy, w, dx0, p);
            Conv2d.InputGrad(v, gy, w, b, dx, p);
            double tol = 1e-5 * (2 + p.CoutG * p.Geo.KH * p.Geo.KW);
            for (int i = 0; i < dx0.Length; i++)
                Assert.That(dx[i], Is.EqualTo(dx0[i] + b[i / p.HW % p.Cin]).Within(tol), $"{p}: dx[{i}]");
        }
    }

    [Test]
    public void V4_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V4Shaped, seed: 9, V3Problems[0], V4Problems[1], V4Problems[2], V4Problems[7], V3Problems[7]);

    [Test]
    public void V3_ForwardWithBias_AddsBiasPerChannel()
    {
        foreach (var p in new[] { V3Problems[0], V3Problems[3], V3Problems[7] })
        {
            var rng = new Random(5);
            float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), b = Rand(rng, p.Cout);
            float[] y0 = Nan(p.OutputLength), y3 = Nan(p.OutputLength);
            Conv2d.Forward(Conv2dVersion.V0PerImage, x, w, y0, p);
            Conv2d.Forward(Conv2dVersion.V3Implicit, x, w, b, y3, p);
            for (int i = 0; i < y0.Length; i++)
                Assert.That(y3[i], Is.EqualTo(y0[i] + b[i / p.P % p.Cout]).Within(1e-5 * (2 + p.KG)), $"y[{i}]");
        }
    }

    [Test]
    public void V3_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V3Implicit, seed: 9, Problems[5], V3Problems[0], V3Problems[7]);

    [Test]
    public void V2_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V2Batched, seed: 9, Problems[2], Problems[5]);

    [Test]
    public void V1_SameBitsOnOneAndTwoThreads() =>
        AssertSameBitsOnOneAndTwoThreads(Conv2dVersion.V1Chunked, seed: 9, Problems[5]);

    /// <summary>Every map of <paramref name="version"/> gives the same bits on 1 and 2 threads (pool and GEMM), per problem
    /// (inputs drawn from <paramref name="seed"/> afresh for each).</summary>
    static void AssertSameBitsOnOneAndTwoThreads(Conv2dVersion version, int seed, params Conv2dProblem[] problems)
    {
        foreach (var p in problems)
        {
            var rng = new Random(seed);
            float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength), gy = Rand(rng, p.OutputLength);
            int saved = WorkerPool.Threads, savedGemm = Gemm.MaxThreads;
            try
            {
                WorkerPool.Threads = 1; Gemm.MaxThreads = 1;
                var one = RunAll(version, x, w, gy, p);
                WorkerPool.Threads = 2; Gemm.MaxThreads = 2;
                var two = RunAll(version, x, w, gy, p);
                Assert.That(two.Y, Is.EqualTo(one.Y), $"{version} {p}: y");
                Assert.That(two.Dx, Is.EqualTo(one.Dx), $"{version} {p}: dx");
                Assert.That(two.Dw, Is.EqualTo(one.Dw), $"{version} {p}: dw");
            }
            finally { WorkerPool.Threads = saved; Gemm.MaxThreads = savedGemm; }
        }
    }

    [Test]
    public void V0_MatchesDirectConvolution()
    {
        var p = Problems[3];
        var rng = new Random(3);
        float[] x = Rand(rng, p.InputLength), w = Rand(rng, p.WeightLength);
        var y = new float[p.OutputLength];
        Conv2d.Forward(Conv2dVersion.V0PerImage, x, w, y, p);
        var g = p.Geo;
        int Ho = g.Hout, Wo = g.Wout;
        for (int n = 0; n < p.N; n++)
            for (int f = 0; f < p.Cout; f++)
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++)
                    {
                        int grp = f / p.CoutG;
                        double s = 0;
                        for (int c = 0; c < p.CinG; c++)
                            for (int ki = 0; ki < g.KH; ki++)
                                for (int kj = 0; kj < g.KW; kj++)
                                {
                                    int ih = oh * g.SH - g.PH + ki * g.DH, iw = ow * g.SW - g.PW + kj * g.DW;
                                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                    s += (double)x[((n * p.Cin + grp * p.CinG + c) * g.H + ih) * g.W + iw] * w[((f * p.CinG + c) * g.KH + ki) * g.KW + kj];
                                }
                        Assert.That(y[((n * p.Cout + f) * Ho + oh) * Wo + ow], Is.EqualTo(s).Within(1e-4));
                    }
    }

    static (float[] Y, float[] Dx, float[] Dw) RunAll(Conv2dVersion v, float[] x, float[] w, float[] gy, in Conv2dProblem p)
    {
        // Outputs start as NaN: every version must overwrite every element.
        float[] y = Nan(p.OutputLength), dx = Nan(p.InputLength), dw = Nan(p.WeightLength);
        Conv2d.Forward(v, x, w, y, p);
        Conv2d.InputGrad(v, gy, w, dx, p);
        Conv2d.WeightGrad(v, x, gy, dw, p);
        return (y, dx, dw);
    }

    static float[] Nan(long n) { var a = new float[n]; Array.Fill(a, float.NaN); return a; }

    static float[] Rand(Random rng, long n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}
