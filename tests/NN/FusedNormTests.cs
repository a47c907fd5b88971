// FusedNormTests.cs — the fused GroupNorm / GroupNormSiLU / training BatchNorm ops (engine/NN/Functional.Norms.cs)
// against the composed references (F.GroupNormComposed, then .SiLU(); F.BatchNormComposed): forward, first-order
// gradients through the fused backward kernel, and finite-difference checks of first and second
// order (the create-graph path builds the closed form from differentiable ops).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN.FusedNorm"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.NN;

public class FusedNormTests
{
    [TestCase(false), TestCase(true)]
    public void GroupNormFused_MatchesComposed_ForwardAndGradients(bool silu)
    {
        using var scope = TensorScope.Begin();
        var x = (GradCheck.Rand(1, 3, 8, 5, 7) * 2f + 0.5f).Detach().RequiresGrad_();
        var w = GradCheck.Rand(2, 8).Detach().RequiresGrad_();
        var b = GradCheck.Rand(3, 8).Detach().RequiresGrad_();
        var g = GradCheck.Rand(4, 3, 8, 5, 7);
        var yf = silu ? F.GroupNormSiLU(x, 4, w, b) : F.GroupNorm(x, 4, w, b);
        var yc = silu ? F.GroupNormComposed(x, 4, w, b).SiLU() : F.GroupNormComposed(x, 4, w, b);
        Close(yf, yc, 1e-5);
        var gf = Autograd.Grad([yf], [x, w, b], [g]);
        var gc = Autograd.Grad([yc], [x, w, b], [g]);
        for (int i = 0; i < 3; i++) Close(gf[i]!, gc[i]!, 1e-4);
    }

    [Test]
    public void GroupNormSiLU_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.GroupNormSiLU(xs[0], 2, xs[1], xs[2]), [GradCheck.Rand(32, 2, 4, 3), GradCheck.Rand(33, 4), GradCheck.Rand(34, 4)], what: "group_norm_silu");
        GradCheck.CheckSecondOrder(xs => F.GroupNormSiLU(xs[0], 2, xs[1], xs[2]), [GradCheck.Rand(35, 1, 4, 3), GradCheck.Rand(36, 4), GradCheck.Rand(37, 4)], what: "group_norm_silu");
    }

    /// <summary>GroupNormSiLU(x, shift) against GroupNormSiLU(x + shift broadcast): odd spatial sizes
    /// (7×5: the row tails), forward and every gradient, shift's included.</summary>
    [Test]
    public void GroupNormSiLU_Shift_MatchesTheBroadcastAdd_ForwardAndGradients()
    {
        using var scope = TensorScope.Begin();
        var x = (GradCheck.Rand(40, 3, 8, 7, 5) * 2f + 0.5f).Detach().RequiresGrad_();
        var sh = (GradCheck.Rand(41, 3, 8) * 3f).Detach().RequiresGrad_();
        var w = GradCheck.Rand(42, 8).Detach().RequiresGrad_();
        var b = GradCheck.Rand(43, 8).Detach().RequiresGrad_();
        var g = GradCheck.Rand(44, 3, 8, 7, 5);
        var yf = F.GroupNormSiLU(x, sh, 4, w, b);
        var yc = F.GroupNormSiLU(x + sh.Reshape(3, 8, 1, 1), 4, w, b);
        Close(yf, yc, 1e-5);
        var gf = Autograd.Grad([yf], [x, sh, w, b], [g]);
        var gc = Autograd.Grad([yc], [x, sh, w, b], [g]);
        for (int i = 0; i < 4; i++) Close(gf[i]!, gc[i]!, 1e-4);
    }

    [Test]
    public void GroupNormSiLU_Shift_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.GroupNormSiLU(xs[0], xs[1], 2, xs[2], xs[3]),
            [GradCheck.Rand(45, 2, 4, 3), GradCheck.Rand(46, 2, 4), GradCheck.Rand(47, 4), GradCheck.Rand(48, 4)], what: "group_norm_silu shift");
        GradCheck.CheckSecondOrder(xs => F.GroupNormSiLU(xs[0], xs[1], 2, xs[2], xs[3]),
            [GradCheck.Rand(49, 1, 4, 3), GradCheck.Rand(50, 1, 4), GradCheck.Rand(51, 4), GradCheck.Rand(52, 4)], what: "group_norm_silu shift");
    }

    [Test]
    public void GroupNormSiLU_Shift_OfTheWrongShape_Throws_NamingShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.GroupNormSiLU(GradCheck.Rand(53, 2, 4, 3, 3), GradCheck.Rand(54, 2, 3), 2));
        Assert.That(ex!.Message, Does.Contain("(N, C) = (2, 4)").And.Contain("(2, 3)"));
    }

    [Test]
    public void GroupNorm_WithoutAffine_SecondOrder()
    {
        GradCheck.CheckSecondOrder(xs => F.GroupNorm(xs[0], 3, null, null), [GradCheck.Rand(38, 2, 6, 2)], what: "group_norm (no affine)");
    }

    /// <summary>Training-mode BatchNorm, fused vs composed: (N, C) with C not a multiple of 16 (the
    /// 16-channel vector path and its tail), (N, C, H, W) with odd spatial sizes, with and without affine.</summary>
    [TestCase(new[] { 5, 37 }, true), TestCase(new[] { 3, 1 }, true), TestCase(new[] { 4, 6, 5, 7 }, true), TestCase(new[] { 2, 3, 17, 1 }, false)]
    public void BatchNormFused_MatchesComposed_ForwardAndGradients(int[] shape, bool affine)
    {
        using var scope = TensorScope.Begin();
        int C = shape[1];
        var x = (GradCheck.Rand(5, shape) * 2f + 0.5f).Detach().RequiresGrad_();
        var w = affine ? GradCheck.Rand(6, C).Detach().RequiresGrad_() : null;
        var b = affine ? GradCheck.Rand(7, C).Detach().RequiresGrad_() : null;
        var g = GradCheck.Rand(8, shape);
        var yf = F.BatchNorm(x, null, null, w, b, training: true);
        var yc = F.BatchNormComposed(x, w, b);
        Close(yf, yc, 1e-5);
        Tensor[] inputs = affine ? [x, w!, b!] : [x];
        var gf = Autograd.Grad([yf], inputs, [g]);
        var gc = Autograd.Grad([yc], inputs, [g]);
        for (int i = 0; i < inputs.Length; i++) Close(gf[i]!, gc[i]!, 1e-4);
    }

    [Test]
    public void BatchNorm_FusedGradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2]), [GradCheck.Rand(40, 3, 17), GradCheck.Rand(41, 17), GradCheck.Rand(42, 17)], what: "batch_norm (N, 17)");
        GradCheck.Check(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2]), [GradCheck.Rand(43, 2, 3, 2, 3), GradCheck.Rand(44, 3), GradCheck.Rand(45, 3)], what: "batch_norm (N, C, H, W)");
        GradCheck.CheckSecondOrder(xs => F.BatchNorm(xs[0], null, null, xs[1], xs[2]), [GradCheck.Rand(46, 2, 2, 3), GradCheck.Rand(47, 2), GradCheck.Rand(48, 2)], what: "batch_norm (N, C, L)");
    }

    static void Close(Tensor a, Tensor b, double tol)
    {
        var x = a.ToArray(); var y = b.ToArray();
        Assert.That(x.Length, Is.EqualTo(y.Length));
        for (int i = 0; i < x.Length; i++) Assert.That(x[i], Is.EqualTo(y[i]).Within(tol * (1 + Math.Abs(y[i]))), $"[{i}]");
    }
}
