using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class RandomTests
{
    [Test]
    public void SameSeed_SameBits_DifferentSeed_DifferentBits()
    {
        var a = Tensor.Randn([1000], new Generator(7)).ToArray();
        var b = Tensor.Randn([1000], new Generator(7)).ToArray();
        var c = Tensor.Randn([1000], new Generator(8)).ToArray();
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
        var g = new Generator(7);
        var first = Tensor.Rand([10], g).ToArray();
        var state = g.GetState();
        var second = Tensor.Rand([10], g).ToArray();
        g.SetState(state.seed, state.offset);
        Assert.That(Tensor.Rand([10], g).ToArray(), Is.EqualTo(second), "restoring (seed, offset) replays the stream");
        Assert.That(first, Is.Not.EqualTo(second));
    }

    [Test]
    public void Randn_HasUnitMoments_Rand_InUnitInterval()
    {
        var n = Tensor.Randn([100_000], new Generator(1)).ToArray();
        double mean = n.Average(), var = n.Select(v => (v - mean) * (v - mean)).Average();
        // Standard errors: mean 1/√n ≈ 0.0032, variance √(2/n) ≈ 0.0045; bounds at ~5 SE.
        Assert.That(mean, Is.EqualTo(0).Within(0.016));
        Assert.That(var, Is.EqualTo(1).Within(0.023));
        var u = Tensor.Rand([100_000], new Generator(2)).ToArray();
        Assert.That(u.Min(), Is.GreaterThanOrEqualTo(0f));
        Assert.That(u.Max(), Is.LessThan(1f));
        var r = Tensor.Randint(3, 9, [10_000], new Generator(3)).ToIntArray();
        Assert.That(r.Min(), Is.EqualTo(3)); Assert.That(r.Max(), Is.EqualTo(8));
    }

    [Test]
    public void Multinomial_FollowsWeights_AndWithoutReplacementNeverRepeats()
    {
        var w = Tensor.FromArray(new float[] { 1, 0, 3 });
        var s = w.Multinomial(20_000, replacement: true, new Generator(4)).ToIntArray();
        Assert.That(s.Count(v => v == 1), Is.EqualTo(0));
        // p(2) = 0.75, SE = √(0.75·0.25/20000) ≈ 0.003.
        Assert.That(s.Count(v => v == 2) / 20_000.0, Is.EqualTo(0.75).Within(0.015));
        var p = Tensor.Ones(2, 5).Multinomial(5, replacement: false, new Generator(5)).ToIntArray();
        Assert.That(p.Take(5).OrderBy(v => v), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.Throws<ArgumentException>(() => Tensor.Ones(3).Multinomial(4));
    }

    [Test]
    public void Dropout_KeepsExpectation_AndIsIdentityInEval()
    {
        var x = Tensor.Ones(100_000);
        var y = F.Dropout(x, 0.3f, training: true, new Generator(6)).ToArray();
        Assert.That(y.Count(v => v == 0) / 100_000.0, Is.EqualTo(0.3).Within(0.01));
        Assert.That(y.Where(v => v != 0).All(v => Math.Abs(v - 1 / 0.7f) < 1e-6), Is.True);
        Assert.That(y.Average(), Is.EqualTo(1).Within(0.02));
        Assert.That(ReferenceEquals(F.Dropout(x, 0.3f, training: false), x), Is.True);
    }

    [Test]
    public void TopK_ReturnsLargestSorted_WithGradientToSelected()
    {
        var x = Tensor.FromArray(new float[] { 0.1f, 0.9f, 0.5f, 0.7f, 0.3f, 0.2f }, 2, 3);
        var (v, i) = x.TopK(2);
        Assert.That(v.ToArray(), Is.EqualTo(new float[] { 0.9f, 0.5f, 0.7f, 0.3f }));
        Assert.That(i.ToIntArray(), Is.EqualTo(new[] { 1, 2, 0, 1 }));
        GradCheck.Check(xs => xs[0].TopK(2).values, [GradCheck.Rand(3, 2, 5)], what: "topk");
        var filtered = x.TopKFilter(1).ToArray();
        Assert.That(filtered.Count(float.IsNegativeInfinity), Is.EqualTo(4));
    }
}
