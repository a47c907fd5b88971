// LeakyReluFusedTests.cs — the one-pass leaky_relu backward (kernels/Cpu/LeakyReluBackward.cs) against
// the composed rule it replaces, against finite differences on both sides of the kink, and its
// thread-count independence.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~LeakyReluFused
using Denoise;
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

[TestFixture]
public class LeakyReluFusedTests
{
    // Lengths: 1, below/at/past one Vector512 (16) and one Vector256 (8), and past Map.ParallelThreshold
    // (2^17) so the pool splits it. Values straddle 0, with exact zeros (PyTorch: slope at x = 0).
    [TestCase(1, 0.2f)]
    [TestCase(15, 0.2f)]
    [TestCase(16, 0.01f)]
    [TestCase(37, 0.2f)]
    [TestCase((1 << 17) + 3, 0.2f)]
    public void Backward_MatchesComposedRuleExactly(int n, float slope)
    {
        var x = GradCheck.Rand(n, -1f, 1f, n).ToArray();
        for (int i = 0; i < n; i += 7) x[i] = 0f;
        var g = GradCheck.Rand(n + 1, -2f, 2f, n).ToArray();
        var dx = new float[n];
        LeakyReluBackward.Run(g, x, slope, dx);
        for (int i = 0; i < n; i++)
        {
            float want = g[i] * ((x[i] > 0 ? 1f : 0f) * (1f - slope) + slope);   // the composed rule, in float
            Assert.That(dx[i], Is.EqualTo(want).Within(Math.Abs(want) * 1e-6f), $"i={i} x={x[i]}");
        }
    }

    [Test]
    public void Backward_SameBitsOnOneAndTwoThreads()
    {
        int n = (1 << 18) + 5;
        var x = GradCheck.Rand(3, -1f, 1f, n).ToArray();
        var g = GradCheck.Rand(4, -1f, 1f, n).ToArray();
        float[] one = new float[n], two = new float[n];
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1; LeakyReluBackward.Run(g, x, 0.2f, one);
            WorkerPool.Threads = 2; LeakyReluBackward.Run(g, x, 0.2f, two);
        }
        finally { WorkerPool.Threads = saved; }
        Assert.That(two, Is.EqualTo(one));
    }

    // The engine op takes the fused pass when not building a graph: finite differences on the negative
    // side (the positive side is in CoreTests), kept ≥ 0.05 from the kink.
    [Test]
    public void LeakyRelu_Gradient_NegativeSide_MatchesFiniteDifferences()
    {
        GradCheck.Check(xs => xs[0].LeakyRelu(0.2f), [GradCheck.Rand(5, -1f, -0.05f, 37)], what: "leaky_relu (x < 0)");
        GradCheck.CheckSecondOrder(xs => xs[0].LeakyRelu(0.2f) * xs[0], [GradCheck.Rand(6, -1f, -0.05f, 5)], what: "leaky_relu (x < 0)");
    }

    [Test]
    public void Backward_LengthMismatch_NamesTheLengths()
    {
        var ex = Assert.Throws<ArgumentException>(() => LeakyReluBackward.Run(new float[4], new float[5], 0.2f, new float[4]));
        Assert.That(ex!.Message, Does.Contain("4").And.Contain("5"));
    }
}
