using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class ReduceTests
{
    [Test]
    public void MaxMinArgmax_MatchLoops()
    {
        var x = GradCheck.Rand(1, 3, 4, 5);
        var v = x.ToArray();
        var m = x.Max(1).ToArray(); var am = x.Argmax(1).ToIntArray(); var mn = x.Min([0, 2]).ToArray();
        for (int i = 0; i < 3; i++) for (int k = 0; k < 5; k++)
        {
            var col = Enumerable.Range(0, 4).Select(j => v[i * 20 + j * 5 + k]).ToArray();
            Assert.That(m[i * 5 + k], Is.EqualTo(col.Max()));
            Assert.That(am[i * 5 + k], Is.EqualTo(Array.IndexOf(col, col.Max())));
        }
        for (int j = 0; j < 4; j++)
            Assert.That(mn[j], Is.EqualTo(Enumerable.Range(0, 15).Select(q => v[(q / 5) * 20 + j * 5 + q % 5]).Min()));
    }

    [Test]
    public void Softmax_RowsSumToOne_AndIsShiftInvariant_AndStableForHugeInputs()
    {
        var x = GradCheck.Rand(2, 4, 7) * 5f;
        var s = x.Softmax(1);
        foreach (var r in s.Sum(1).ToArray()) Assert.That(r, Is.EqualTo(1f).Within(1e-6));
        Assert.That((x + 100f).Softmax(1).ToArray(), Is.EqualTo(s.ToArray()).Within(1e-6f));
        var big = Tensor.FromArray(new float[] { 1000, 0, -1000 });
        Assert.That(big.LogSoftmax(0).ToArray(), Is.EqualTo(new float[] { 0, -1000, -2000 }).Within(1e-3f));
        Assert.That(big.LogSumExp(0).Item(), Is.EqualTo(1000f).Within(1e-3));
    }

    [Test]
    public void Reductions_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].Max(1), [GradCheck.Rand(3, 3, 5)], what: "max");
        GradCheck.Check(xs => xs[0].Min(), [GradCheck.Rand(4, 3, 5)], what: "min all");
        GradCheck.Check(xs => xs[0].Softmax(-1), [GradCheck.Rand(5, 3, 5)], what: "softmax");
        GradCheck.Check(xs => xs[0].LogSoftmax(0), [GradCheck.Rand(6, 3, 5)], what: "log_softmax");
        GradCheck.Check(xs => xs[0].LogSumExp(1, keepDim: true), [GradCheck.Rand(7, 3, 5)], what: "logsumexp");
        GradCheck.CheckSecondOrder(xs => xs[0].Softmax(-1), [GradCheck.Rand(8, 2, 4)], what: "softmax");
        GradCheck.CheckSecondOrder(xs => xs[0].LogSumExp(0), [GradCheck.Rand(9, 3, 2)], what: "logsumexp");
        GradCheck.CheckSecondOrder(xs => xs[0].Max(1) * xs[0].Sum(1), [GradCheck.Rand(10, 2, 4)], what: "max");
    }
}
