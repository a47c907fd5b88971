// Toy 2-D distributions: deterministic per seed, and the coarse statistics each one promises.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.Toy2D
using Denoise.Data;
using NUnit.Framework;

namespace Denoise.Tests.Data;

public class Toy2DTests
{
    const int N = 4000;

    static float[] Sample(string name, ulong seed, int n = N) => Toy2D.ByName(name, n, new Generator(seed)).ToArray();

    [Test]
    public void EveryDataSet_IsDeterministicPerSeed_AndHasShapeN2()
    {
        foreach (var name in Toy2D.Names)
        {
            var t = Toy2D.ByName(name, 37, new Generator(5));
            Assert.That(t.Shape.ToArray(), Is.EqualTo(new[] { 37, 2 }), name);
            Assert.That(Sample(name, 5, 37), Is.EqualTo(t.ToArray()), name);
            Assert.That(Sample(name, 6, 37), Is.Not.EqualTo(t.ToArray()), name);
            Assert.That(t.ToArray().All(float.IsFinite), name);
        }
        Assert.That(Assert.Throws<ArgumentException>(() => Toy2D.ByName("spiral", 3))!.Message, Does.Contain("pinwheel"));
    }

    [Test]
    public void EightGaussians_EveryClusterGetsAnEighth_ByNearestCentre()
    {
        var xy = Sample("8gaussians", 1);
        var counts = new int[8];
        for (int i = 0; i < N; i++)
        {
            double a = Math.Atan2(xy[2 * i + 1], xy[2 * i]);
            int k = ((int)Math.Round(a / (Math.PI / 4)) + 8) % 8;
            double dx = xy[2 * i] - 2 * Math.Cos(k * Math.PI / 4), dy = xy[2 * i + 1] - 2 * Math.Sin(k * Math.PI / 4);
            Assert.That(Math.Sqrt(dx * dx + dy * dy), Is.LessThan(0.6)); // 6 σ
            counts[k]++;
        }
        Assert.That(counts, Has.All.InRange(N / 8 - 100, N / 8 + 100)); // ±100 ≈ ±4.8 binomial σ
    }

    [Test]
    public void Circles_TwoRingsOfRadius3And1Point5_HalfEach()
    {
        var xy = Sample("circles", 2);
        var outer = new List<double>(); var inner = new List<double>();
        for (int i = 0; i < N; i++)
        {
            double r = Math.Sqrt(xy[2 * i] * xy[2 * i] + xy[2 * i + 1] * xy[2 * i + 1]);
            (r > 2.25 ? outer : inner).Add(r);
        }
        Assert.That(outer.Count, Is.InRange(N / 2 - 150, N / 2 + 150));
        Assert.That(outer.Average(), Is.EqualTo(3.0).Within(0.03));
        Assert.That(inner.Average(), Is.EqualTo(1.5).Within(0.05)); // noise pushes a small ring outward slightly
    }

    [Test]
    public void SwissRoll_NoiselessPointsLieOnTheSpiral_AndNoisyOnesHaveTheRightRadius()
    {
        var clean = Toy2D.SwissRoll(500, new Generator(3), noise: 0f).ToArray();
        for (int i = 0; i < 500; i++)
        {
            double x = clean[2 * i] * 5, y = clean[2 * i + 1] * 5, t = Math.Sqrt(x * x + y * y);
            Assert.That(t, Is.InRange(1.5 * Math.PI - 1e-3, 4.5 * Math.PI + 1e-3));
            Assert.That(x, Is.EqualTo(t * Math.Cos(t)).Within(1e-3 * t));
            Assert.That(y, Is.EqualTo(t * Math.Sin(t)).Within(1e-3 * t));
        }
        var xy = Sample("swissroll", 3);
        double meanR = Enumerable.Range(0, N).Average(i => Math.Sqrt(xy[2 * i] * xy[2 * i] + xy[2 * i + 1] * xy[2 * i + 1]));
        Assert.That(meanR, Is.EqualTo(3 * Math.PI / 5).Within(0.06)); // E[t]/5 = 1.885; noise adds ~0.01
    }

    [Test]
    public void Pinwheel_FiveArmsOfEqualMass_CentredAtOrigin()
    {
        var xy = Sample("pinwheel", 4);
        var counts = new int[5];
        double mx = 0, my = 0, mr = 0;
        for (int i = 0; i < N; i++)
        {
            double x = xy[2 * i], y = xy[2 * i + 1];
            mx += x / N; my += y / N; mr += Math.Sqrt(x * x + y * y) / N;
            // Point angle is −(2πk/5 + 0.25·e^{f₁}) + small; 0.25·e^{f₁} ≈ 0.68 typically.
            double phi = (-Math.Atan2(y, x) - 0.68 + 4 * Math.PI) % (2 * Math.PI);
            counts[(int)Math.Round(phi / (2 * Math.PI / 5)) % 5]++;
        }
        Assert.That(counts, Has.All.InRange(N / 5 - 150, N / 5 + 150));
        Assert.That(Math.Abs(mx) + Math.Abs(my), Is.LessThan(0.1));
        Assert.That(mr, Is.EqualTo(2.0).Within(0.1));
    }
}
