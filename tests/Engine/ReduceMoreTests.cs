// Tests for engine/Ops/ReduceMore.cs: var/std/norm and the cumsum/cumprod scans, against plain
// double loops, with first- and second-order gradient checks and cumprod's gradient through zeros.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~ReduceMoreTests"
using Denoise;
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class ReduceMoreTests
{
    // Reference: a (A, B, C) row-major tensor's elements along `dim` for each fixed position of the other two.
    static IEnumerable<(int[] at, double[] line)> Lines(float[] v, int[] shape, int dim)
    {
        int[] strides = [shape[1] * shape[2], shape[2], 1];
        int[] other = Enumerable.Range(0, 3).Where(d => d != dim).ToArray();
        for (int i = 0; i < shape[other[0]]; i++)
            for (int j = 0; j < shape[other[1]]; j++)
            {
                int baseAt = i * strides[other[0]] + j * strides[other[1]];
                var line = Enumerable.Range(0, shape[dim]).Select(k => (double)v[baseAt + k * strides[dim]]).ToArray();
                var at = Enumerable.Range(0, shape[dim]).Select(k => baseAt + k * strides[dim]).ToArray();
                yield return (at, line);
            }
    }

    [Test]
    public void VarStd_MatchDoubleLoops_BiasedAndUnbiased()
    {
        int[] shape = [3, 4, 5];
        var x = GradCheck.Rand(1, shape);
        var v = x.ToArray();
        for (int dim = 0; dim < 3; dim++)
        {
            var unb = x.Var(dim).ToArray();
            var bia = x.Var(dim, unbiased: false).ToArray();
            var std = x.Std(dim, keepDim: true);
            Assert.That(std.Shape[dim], Is.EqualTo(1));
            var stds = std.ToArray();
            int r = 0;
            foreach (var (_, line) in Lines(v, shape, dim))
            {
                double m = line.Average(), ss = line.Sum(e => (e - m) * (e - m));
                Assert.That(unb[r], Is.EqualTo(ss / (line.Length - 1)).Within(1e-5), $"var dim {dim}");
                Assert.That(bia[r], Is.EqualTo(ss / line.Length).Within(1e-5), $"biased var dim {dim}");
                Assert.That(stds[r], Is.EqualTo(Math.Sqrt(ss / (line.Length - 1))).Within(1e-5), $"std dim {dim}");
                r++;
            }
        }
        double mean = v.Average(e => (double)e), all = v.Sum(e => (e - mean) * (e - mean));
        Assert.That(x.Var().Item(), Is.EqualTo(all / (v.Length - 1)).Within(1e-5));
        Assert.That(x.Std(unbiased: false).Item(), Is.EqualTo(Math.Sqrt(all / v.Length)).Within(1e-5));
        Assert.That(x.Var([0, 2]).Shape.ToArray(), Is.EqualTo(new[] { 4 }));
        // Hand case: var([1, 2, 3, 4]) = 5/3 unbiased, 5/4 biased.
        var h = Tensor.FromArray(new float[] { 1, 2, 3, 4 });
        Assert.That(h.Var().Item(), Is.EqualTo(5.0 / 3).Within(1e-6));
        Assert.That(h.Var(unbiased: false).Item(), Is.EqualTo(1.25).Within(1e-6));
        Assert.That(float.IsNaN(Tensor.FromArray(new float[] { 2 }, 1).Var().Item()), "unbiased var of one element is NaN, as PyTorch");
    }

    [Test]
    public void VarStd_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].Var(1), [GradCheck.Rand(2, 3, 4)], what: "var dim");
        GradCheck.Check(xs => xs[0].Var([0, 2], unbiased: false, keepDim: true), [GradCheck.Rand(3, 2, 3, 4)], what: "var dims biased");
        GradCheck.Check(xs => xs[0].Std(0), [GradCheck.Rand(4, 4, 3)], what: "std");
        GradCheck.Check(xs => xs[0].Std(), [GradCheck.Rand(5, 3, 3)], what: "std all");
        GradCheck.CheckSecondOrder(xs => xs[0].Var(1), [GradCheck.Rand(6, 2, 4)], what: "var");
        GradCheck.CheckSecondOrder(xs => xs[0].Std(-1), [GradCheck.Rand(7, 2, 4)], what: "std");
    }

    [Test]
    public void Norm_MatchesLoops_GradientsAndZeroSubgradient()
    {
        var x = GradCheck.Rand(8, 3, 4);
        var v = x.ToArray();
        Assert.That(x.Norm().Item(), Is.EqualTo(Math.Sqrt(v.Sum(e => (double)e * e))).Within(1e-5));
        var rows = x.Norm(1).ToArray();
        for (int i = 0; i < 3; i++)
            Assert.That(rows[i], Is.EqualTo(Math.Sqrt(Enumerable.Range(0, 4).Sum(j => (double)v[i * 4 + j] * v[i * 4 + j]))).Within(1e-5));
        Assert.That(x.Norm(0, keepDim: true).Shape.ToArray(), Is.EqualTo(new[] { 1, 4 }));
        GradCheck.Check(xs => xs[0].Norm(), [GradCheck.Rand(9, 3, 4)], what: "norm");
        GradCheck.Check(xs => xs[0].Norm([0, 2]), [GradCheck.Rand(10, 2, 3, 2)], what: "norm dims");
        GradCheck.CheckSecondOrder(xs => xs[0].Norm(1), [GradCheck.Rand(11, 2, 3)], what: "norm");
        // ‖0‖: gradient 0, not NaN.
        var z = Tensor.Zeros(2, 3).RequiresGrad_();
        z.Norm(1).Sum().Backward();
        Assert.That(z.Grad!.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void CumSumCumProd_MatchLoops_AlongEveryDim()
    {
        int[] shape = [3, 4, 5];
        var x = GradCheck.Rand(12, 0.5f, 1.5f, shape);
        var v = x.ToArray();
        for (int dim = 0; dim < 3; dim++)
        {
            var cs = x.CumSum(dim).ToArray();
            var cp = x.CumProd(dim).ToArray();
            var rcs = x.CumSumReverse(dim).ToArray();
            foreach (var (at, line) in Lines(v, shape, dim))
            {
                double s = 0, p = 1, rs = line.Sum();
                for (int k = 0; k < line.Length; k++)
                {
                    s += line[k]; p *= line[k];
                    Assert.That(cs[at[k]], Is.EqualTo(s).Within(1e-5), $"cumsum dim {dim}");
                    Assert.That(cp[at[k]], Is.EqualTo(p).Within(1e-5 * Math.Max(1, p)), $"cumprod dim {dim}");
                    Assert.That(rcs[at[k]], Is.EqualTo(rs).Within(1e-5), $"reverse cumsum dim {dim}");
                    rs -= line[k];
                }
            }
        }
        // Non-contiguous input, negative dim.
        var t = GradCheck.Rand(13, 4, 3).T;
        Assert.That(t.CumSum(-1).ToArray(), Is.EqualTo(t.Contiguous().CumSum(1).ToArray()).Within(1e-6f));
        Assert.That(Tensor.FromArray(new float[] { 1, 2, 3, 4 }).CumProd(0).ToArray(), Is.EqualTo(new float[] { 1, 2, 6, 24 }));
    }

    [Test]
    public void CumSum_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].CumSum(1), [GradCheck.Rand(14, 3, 4)], what: "cumsum");
        GradCheck.Check(xs => xs[0].CumSum(0), [GradCheck.Rand(15, 4, 2, 3)], what: "cumsum dim 0");
        GradCheck.Check(xs => xs[0].CumSumReverse(-1), [GradCheck.Rand(16, 2, 5)], what: "reverse cumsum");
        // cumsum is linear: its Hessian vanishes unless mixed with a nonlinearity.
        GradCheck.CheckSecondOrder(xs => xs[0].CumSum(1).Square(), [GradCheck.Rand(17, 2, 4)], what: "cumsum");
        GradCheck.CheckSecondOrder(xs => (xs[0] * xs[0]).CumSumReverse(0) * xs[0], [GradCheck.Rand(18, 3, 2)], what: "reverse cumsum");
    }

    [Test]
    public void CumProd_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].CumProd(1), [GradCheck.Rand(19, 3, 5)], what: "cumprod");
        GradCheck.Check(xs => xs[0].CumProd(0), [GradCheck.Rand(20, 4, 2, 3)], what: "cumprod dim 0");
        GradCheck.Check(xs => xs[0].CumProd(2), [GradCheck.Rand(21, 2, 2, 1)], what: "cumprod length 1");
        GradCheck.CheckSecondOrder(xs => xs[0].CumProd(1), [GradCheck.Rand(22, 2, 4)], what: "cumprod");
        GradCheck.CheckSecondOrder(xs => xs[0].CumProd(0), [GradCheck.Rand(23, 3, 2)], what: "cumprod dim 0");
    }

    [Test]
    public void CumProd_GradientIsExact_WithZeros()
    {
        // dL/dx_k = Σ_{j≥k} w_j·Π_{i≤j, i≠k} x_i, by brute force in double; one and two zeros in a row.
        float[][] rows = [[2, 0, 3, 0.5f], [0, 0, 2, 3], [1.5f, -2, 0, 4], [0, 1, 1, 1]];
        var x = Tensor.FromArray(rows.SelectMany(r => r).ToArray(), 4, 4).RequiresGrad_();
        var w = GradCheck.Rand(24, 0.5f, 1.5f, 4, 4);
        (x.CumProd(1) * w).Sum().Backward();
        var g = x.Grad!.ToArray(); var wv = w.ToArray();
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++)
            {
                double expected = 0;
                for (int j = k; j < 4; j++)
                {
                    double p = wv[r * 4 + j];
                    for (int i = 0; i <= j; i++) if (i != k) p *= rows[r][i];
                    expected += p;
                }
                Assert.That(g[r * 4 + k], Is.EqualTo(expected).Within(1e-5), $"row {r} element {k}");
            }
        // Hand case: x = [2, 0, 3], w = 1: y = [2, 0, 0], dx = [1, 2 + 2·3, 0] = [1, 8, 0].
        var h = Tensor.FromArray(new float[] { 2, 0, 3 }).RequiresGrad_();
        h.CumProd(0).Sum().Backward();
        Assert.That(h.Grad!.ToArray(), Is.EqualTo(new float[] { 1, 8, 0 }));
        // The finite-difference check holds at a zero too (cumprod is a polynomial: smooth everywhere).
        GradCheck.Check(xs => xs[0].CumProd(1), [Tensor.FromArray(new float[] { 0.7f, 0, -1.2f, 0.9f, 0, 0, 1.1f, 0.6f }, 2, 4)], what: "cumprod zeros");
        GradCheck.CheckSecondOrder(xs => xs[0].CumProd(1), [Tensor.FromArray(new float[] { 0.7f, 0, -1.2f, 0.9f }, 1, 4)], what: "cumprod zeros");
    }

    [Test]
    public void LinearScan_Gradients_BothDirections()
    {
        foreach (bool reverse in new[] { false, true })
        {
            GradCheck.Check(xs => Tensor.LinearScan(xs[0], xs[1], 1, reverse), [GradCheck.Rand(25, 2, 4), GradCheck.Rand(26, 2, 4)], what: $"scan reverse={reverse}");
            GradCheck.CheckSecondOrder(xs => Tensor.LinearScan(xs[0], xs[1], 0, reverse), [GradCheck.Rand(27, 3, 2), GradCheck.Rand(28, 3, 2)], what: $"scan reverse={reverse}");
        }
    }

    [Test]
    public void BadInputs_NameTheShapes()
    {
        var x = Tensor.Zeros(2, 3);
        var e = Assert.Throws<ArgumentException>(() => x.CumSum(2));
        Assert.That(e!.Message, Does.Contain("cumsum").And.Contain("(2, 3)"));
        e = Assert.Throws<ArgumentException>(() => x.Var([1, 1]));
        Assert.That(e!.Message, Does.Contain("var"));
        e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { 1, 2 }).CumProd(0));
        Assert.That(e!.Message, Does.Contain("cumprod").And.Contain("Int32"));
    }

    /// <summary>Sum over (0, 2, 3) of NCHW (the conv bias gradient) takes the kept-middle-block path.</summary>
    [Test]
    public void Sum_OverLeadingAndTrailingDims_MatchesDoubleLoops()
    {
        int[] shape = [3, 4, 5, 2];
        var x = GradCheck.Rand(7, shape);
        float[] v = x.ToArray();
        float[] s = x.Sum([0, 2, 3], keepDim: false).ToArray();
        float[] t = x.SumTo([1, 4, 1, 1]).ToArray();
        for (int c = 0; c < 4; c++)
        {
            double want = 0;
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 10; i++) want += v[(n * 4 + c) * 10 + i];
            Assert.That(s[c], Is.EqualTo(want).Within(1e-5));
            Assert.That(t[c], Is.EqualTo(want).Within(1e-5));
        }
    }
    // Rows split over the pool must give each row's serial SIMD sum exactly, whatever the thread count,
    // and agree with a double-precision reference; odd row counts and lengths exercise uneven parts.
    [TestCase(1, 1)]
    [TestCase(3, 17)]
    [TestCase(257, 1031)]
    [TestCase(4099, 64)]
    public void RowSums_ParallelEqualsSerialBits_AndReference(int rows, int length)
    {
        var x = GradCheck.Rand(11, rows, length);
        var xs = x.ToArray();
        int saved = Denoise.Kernels.Cpu.RowSums.ParallelThreshold, threads = Denoise.Kernels.Cpu.WorkerPool.Threads;
        float[] serial, parallel;
        try
        {
            Denoise.Kernels.Cpu.RowSums.ParallelThreshold = 1;
            Denoise.Kernels.Cpu.WorkerPool.Threads = 2;
            parallel = x.Sum(1).ToArray();
            Denoise.Kernels.Cpu.WorkerPool.Threads = 1;
            serial = x.Sum(1).ToArray();
        }
        finally { Denoise.Kernels.Cpu.RowSums.ParallelThreshold = saved; Denoise.Kernels.Cpu.WorkerPool.Threads = threads; }
        Assert.That(parallel.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(serial.Select(BitConverter.SingleToInt32Bits)));
        for (int i = 0; i < rows; i++)
        {
            double r = 0;
            for (int j = 0; j < length; j++) r += xs[i * length + j];
            Assert.That(parallel[i], Is.EqualTo(r).Within(1e-4 * (1 + Math.Abs(r)) + 1e-5 * length), $"row {i}");
        }
    }

    // Every RowSums version against a double reference on odd lengths (below, at and past the 16- and
    // 64-float chunks), and V1's pairing of rows: a row's bits must not depend on whether it was summed
    // beside a neighbour (odd row counts leave one row alone; a part boundary can fall anywhere).
    [TestCase(RowSumsVersion.V0Primitives)]
    [TestCase(RowSumsVersion.V1Streams)]
    public void RowSums_Version_MatchesReference_OddLengths(RowSumsVersion version)
    {
        foreach (int length in new[] { 1, 15, 16, 17, 63, 64, 65, 97, 1031 })
            foreach (int rows in new[] { 1, 2, 3, 7 })
            {
                var xs = GradCheck.Rand(length * 31 + rows, rows, length).ToArray();
                var y = new float[rows];
                RowSums.Run(version, xs, y, length);
                for (int i = 0; i < rows; i++)
                {
                    double r = 0;
                    for (int j = 0; j < length; j++) r += xs[i * length + j];
                    Assert.That(y[i], Is.EqualTo(r).Within(1e-5 * (1 + length)), $"{version} rows={rows} n={length} row {i}");
                    var alone = new float[1];
                    RowSums.Run(version, xs.AsSpan(i * length, length), alone, length);
                    Assert.That(BitConverter.SingleToInt32Bits(y[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(alone[0])),
                        $"{version} rows={rows} n={length}: row {i} alone differs");
                }
            }
    }

    [Test]
    public void RowSums_TooShortInput_NamesTheSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Denoise.Kernels.Cpu.RowSums.Run(new float[10], new float[3], 4));
        Assert.That(ex!.Message, Does.Contain("12").And.Contain("10"));
    }
}
