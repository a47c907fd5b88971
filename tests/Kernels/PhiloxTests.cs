// PhiloxTests.cs — Philox4x32-10 (kernels/Random/Philox.cs): Random123 known-answer vectors,
// the counter/lane layout, and the moments of the distributions it feeds.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Philox
using Denoise.Kernels;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture]
public class PhiloxTests
{
    const int Samples = 100_000;

    // Known-answer tests from Random123's kat_vectors (philox4x32 10 rounds): counter, key → output.
    [TestCase(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
        0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
        0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Block_MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        uint e0, uint e1, uint e2, uint e3)
        => Assert.That(Philox.Block(k0, k1, c0, c1, c2, c3), Is.EqualTo((e0, e1, e2, e3)));

    [Test]
    public void Block_SeedAndCounterMapToLowHighWords()
    {
        ulong seed = 0x299f31d0_a4093822, counter = 0x85a308d3_243f6a88;
        Assert.That(Philox.Block(seed, counter),
            Is.EqualTo(Philox.Block(0xa4093822u, 0x299f31d0u, 0x243f6a88u, 0x85a308d3u, 0u, 0u)));
    }

    [Test]
    public void FillBits_ElementIUsesCounterOffsetPlusIOver4LaneIMod4()
    {
        var bits = new uint[11];
        Philox.FillBits(bits, seed: 42, offset: 1000);
        for (int i = 0; i < bits.Length; i++)
        {
            var b = Philox.Block(42ul, 1000ul + (ulong)(i / 4));
            uint lane = (i % 4) switch { 0 => b.X0, 1 => b.X1, 2 => b.X2, _ => b.X3 };
            Assert.That(bits[i], Is.EqualTo(lane), $"i={i}");
        }
        Assert.That(Philox.CountersUsed(11), Is.EqualTo(3ul));
        Assert.That(Philox.CountersUsed(12), Is.EqualTo(3ul));
        Assert.That(Philox.CountersUsed(0), Is.EqualTo(0ul));
    }

    [Test]
    public void Fill_IsDeterministicAndSplitsAtCounterBoundaries()
    {
        var whole = new float[1003];
        Philox.FillNormal(whole, seed: 7, offset: 5);
        var again = new float[1003];
        Philox.FillNormal(again, seed: 7, offset: 5);
        Assert.That(again, Is.EqualTo(whole));

        // Filling in two calls, advancing the offset by CountersUsed, reproduces the single call.
        var head = new float[400];
        var tail = new float[603];
        Philox.FillNormal(head, 7, 5);
        Philox.FillNormal(tail, 7, 5 + Philox.CountersUsed(head.Length));
        Assert.That(head.Concat(tail).ToArray(), Is.EqualTo(whole));

        var other = new float[1003];
        Philox.FillNormal(other, seed: 8, offset: 5);
        Assert.That(other, Is.Not.EqualTo(whole));
    }

    [Test]
    public void FillUniform_InUnitIntervalWithMeanAndVarianceOfU01()
    {
        var u = new float[Samples];
        Philox.FillUniform(u, seed: 123, offset: 0);
        Assert.That(u.Min(), Is.GreaterThanOrEqualTo(0f));
        Assert.That(u.Max(), Is.LessThan(1f));
        var (mean, variance) = Moments(u);
        // U(0,1): 5-SE bounds. Mean 1/2, sd 1/√12 ≈ 0.2887, so SE(mean) ≈ 9.1e-4; 5 SE = 4.6e-3.
        Assert.That(mean, Is.EqualTo(0.5).Within(4.6e-3));
        // Variance 1/12: sd of (x − 1/2)² is 1/√180 ≈ 0.0745, so SE ≈ 2.4e-4; 5 SE = 1.2e-3.
        Assert.That(variance, Is.EqualTo(1.0 / 12).Within(1.2e-3));
    }

    [Test]
    public void FillNormal_HasMeanZeroAndUnitVariance()
    {
        var z = new float[Samples];
        Philox.FillNormal(z, seed: 2024, offset: 17);
        Assert.That(z.All(float.IsFinite), Is.True);
        var (mean, variance) = Moments(z);
        // N(0,1): SE(mean) = 1/√1e5 ≈ 3.2e-3; SE(variance) = √(2/1e5) ≈ 4.5e-3. Bounds are 5 SE:
        // a correct generator fails them with probability below 1e-6 for a given seed.
        Assert.That(mean, Is.EqualTo(0.0).Within(0.016));
        Assert.That(variance, Is.EqualTo(1.0).Within(0.0224));
        // Box–Muller's tail is cut at √(−2 ln 2^-24) ≈ 5.77.
        Assert.That(z.Max(Math.Abs), Is.LessThanOrEqualTo(5.78f));
    }

    [TestCase(0, 10)]
    [TestCase(-3, 4)]
    [TestCase(int.MinValue, int.MaxValue)]
    public void FillInt_StaysInRangeAndIsUniform(int low, int high)
    {
        var v = new int[Samples];
        Philox.FillInt(v, low, high, seed: 99, offset: 0);
        Assert.That(v.Min(), Is.GreaterThanOrEqualTo(low));
        Assert.That(v.Max(), Is.LessThan(high));
        double range = (double)high - low;
        double mean = v.Average(x => (double)x);
        // Discrete uniform on [low, high): mean (low + high − 1)/2, sd ≈ range/√12; 5 SE bound.
        double se = range / Math.Sqrt(12) / Math.Sqrt(Samples);
        Assert.That(mean, Is.EqualTo((low + (double)high - 1) / 2).Within(5 * se));
        if (range <= 16)
            Assert.That(v.Distinct().Count(), Is.EqualTo((int)range), "every value in range appears");
    }

    static (double Mean, double Variance) Moments(float[] x)
    {
        double mean = x.Average(v => (double)v);
        double variance = x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1);
        return (mean, variance);
    }
}
