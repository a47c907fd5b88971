// FusedLayerNormSoftmaxTests.cs — F.LayerNorm, Softmax and LogSoftmax now run fused kernels
// (engine/NN/Functional.Norms.cs, engine/Ops/Reduce.cs → kernels/Cpu/Norm/): forward and first-order
// gradients against the differentiable compositions they replaced (kept as LayerNormComposed,
// SoftmaxComposed, LogSoftmaxComposed), on odd row lengths (SIMD tails) and through non-contiguous
// inputs; finite-difference checks of first and second order (create-graph takes the composed rule);
// the non-last-axis case falls back to the composition.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~FusedLayerNormSoftmax
using NUnit.Framework;

namespace Denoise.Tests.NN;

public class FusedLayerNormSoftmaxTests
{
    [TestCase(1, 1), TestCase(3, 7), TestCase(5, 17), TestCase(2, 33), TestCase(4, 257)]
    public void LayerNorm_Fused_MatchesComposed_ForwardAndGradients(int rows, int D)
    {
        var x = (GradCheck.Rand(rows * 10 + D, 2, rows, D) * 3f + 5f).Detach().RequiresGrad_();
        var w = GradCheck.Rand(2, D).Detach().RequiresGrad_();
        var b = GradCheck.Rand(3, D).Detach().RequiresGrad_();
        var dy = GradCheck.Rand(4, 2, rows, D);
        var yf = F.LayerNorm(x, D, w, b);
        var yc = F.LayerNormComposed(x, [D], w, b);
        AssertClose(yf, yc, 2e-5, "y");
        var gf = Autograd.Grad([yf], [x, w, b], [dy]);
        var gc = Autograd.Grad([yc], [x, w, b], [dy]);
        for (int i = 0; i < 3; i++) AssertClose(gf[i]!, gc[i]!, 1e-4, $"grad {i}");
    }

    [Test]
    public void LayerNorm_NonContiguousInput_NoAffine_TwoTrailingDims()
    {
        var x = GradCheck.Rand(5, 3, 6, 4).Transpose(0, 2).Detach().RequiresGrad_();   // (4, 6, 3), strided
        var dy = GradCheck.Rand(6, 4, 6, 3);
        var yf = F.LayerNorm(x, [6, 3]);
        var yc = F.LayerNormComposed(x, [6, 3]);
        AssertClose(yf, yc, 2e-5, "y");
        AssertClose(Autograd.Grad([yf], [x], [dy])[0]!, Autograd.Grad([yc], [x], [dy])[0]!, 1e-4, "dx");
    }

    [Test]
    public void LayerNorm_Fused_GradCheck_FirstAndSecondOrder_OddWidth()
    {
        GradCheck.Check(xs => F.LayerNorm(xs[0], 19, xs[1], xs[2]), [GradCheck.Rand(21, 3, 19), GradCheck.Rand(22, 19), GradCheck.Rand(23, 19)], what: "layer_norm D=19");
        GradCheck.CheckSecondOrder(xs => F.LayerNorm(xs[0], 17, xs[1], xs[2]), [GradCheck.Rand(24, 2, 17), GradCheck.Rand(25, 17), GradCheck.Rand(26, 17)], what: "layer_norm D=17");
    }

    [TestCase(1, 1), TestCase(4, 7), TestCase(3, 16), TestCase(5, 17), TestCase(2, 65), TestCase(3, 257)]
    public void Softmax_And_LogSoftmax_Fused_MatchComposed(int rows, int L)
    {
        var x = (GradCheck.Rand(rows * 7 + L, rows, L) * 6f).Detach().RequiresGrad_();
        var dy = GradCheck.Rand(9, rows, L);
        foreach (bool log in new[] { false, true })
        {
            var yf = log ? x.LogSoftmax(-1) : x.Softmax(-1);
            var yc = log ? x.LogSoftmaxComposed(-1) : x.SoftmaxComposed(-1);
            AssertClose(yf, yc, 2e-6, log ? "log_softmax" : "softmax");
            AssertClose(Autograd.Grad([yf], [x], [dy])[0]!, Autograd.Grad([yc], [x], [dy])[0]!, 2e-5, (log ? "log_softmax" : "softmax") + " dx");
        }
    }

    [Test]
    public void Softmax_TrailingUnitDims_AndNonContiguous_UseTheKernel_OtherAxesCompose()
    {
        var x = GradCheck.Rand(31, 5, 9, 1) * 4f;                 // softmax over dim 1: trailing size-1 dim
        AssertClose(x.Softmax(1), x.SoftmaxComposed(1), 2e-6, "dim 1 of (5, 9, 1)");
        var xt = (GradCheck.Rand(32, 9, 5) * 4f).T;               // (5, 9) strided view
        AssertClose(xt.LogSoftmax(-1), xt.LogSoftmaxComposed(-1), 2e-6, "strided");
        var x3 = GradCheck.Rand(33, 3, 4, 5) * 4f;                // dim 1 of (3, 4, 5): not the last axis
        AssertClose(x3.Softmax(1), x3.SoftmaxComposed(1), 1e-7, "dim 1 of (3, 4, 5)");
    }

    [Test]
    public void Softmax_Fused_GradCheck_FirstAndSecondOrder_OddWidth()
    {
        GradCheck.Check(xs => xs[0].Softmax(-1), [GradCheck.Rand(41, 3, 19)], what: "softmax L=19");
        GradCheck.Check(xs => xs[0].LogSoftmax(-1), [GradCheck.Rand(42, 2, 17)], what: "log_softmax L=17");
        GradCheck.CheckSecondOrder(xs => xs[0].Softmax(-1) * xs[0], [GradCheck.Rand(43, 2, 17)], what: "softmax L=17");
        GradCheck.CheckSecondOrder(xs => xs[0].LogSoftmax(-1) * xs[0], [GradCheck.Rand(44, 2, 9)], what: "log_softmax L=9");
    }

    static void AssertClose(Tensor actual, Tensor expected, double tol, string what)
    {
        Assert.That(actual.Shape.ToArray(), Is.EqualTo(expected.Shape.ToArray()), what);
        float[] a = actual.ToArray(), e = expected.ToArray();
        for (int i = 0; i < a.Length; i++)
            Assert.That(a[i], Is.EqualTo(e[i]).Within(tol * (1 + Math.Abs(e[i]))), $"{what}[{i}]");
    }
}
