// NearestTests.cs — the nearest-resize kernels (kernels/Cpu/Resample/Nearest.cs) against V0 on odd
// shapes (1×1 planes, primes, up- and downsizing, non-integer ratios, an empty batch), the adjoint
// as the forward's transpose (⟨F x, g⟩ = ⟨x, Fᵀ g⟩), and the same bits on 1 and 2 threads.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Nearest
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class NearestTests
{
    // P, H, W, Ho, Wo
    static readonly int[][] Shapes =
    {
        [1, 1, 1, 1, 1], [3, 1, 1, 5, 3], [7, 7, 7, 14, 14], [5, 14, 14, 28, 28], [2, 3, 5, 7, 11],
        [13, 5, 4, 3, 2], [1, 13, 17, 13, 17], [0, 3, 3, 6, 6], [4, 2, 9, 5, 20], [129, 7, 7, 14, 14],
    };

    static IEnumerable<TestCaseData> Cases() =>
        Shapes.Select(sh => new TestCaseData(sh[0], sh[1], sh[2], sh[3], sh[4])
            .SetName($"Nearest_V1RowsMatchesV0_P{sh[0]}_{sh[1]}x{sh[2]}_to_{sh[3]}x{sh[4]}"));

    /// <summary>PyTorch's rule, as the engine builds the tables: min(⌊i·in/out⌋, in − 1).</summary>
    static int[] Table(int inSize, int outSize)
    {
        float scale = (float)inSize / outSize;
        return Enumerable.Range(0, outSize).Select(i => Math.Min((int)MathF.Floor(i * scale), inSize - 1)).ToArray();
    }

    [TestCaseSource(nameof(Cases))]
    public void Nearest_V1RowsMatchesV0(int P, int H, int W, int Ho, int Wo)
    {
        var s = new NearestShape(P, H, W, Ho, Wo);
        int[] hi = Table(H, Ho), wi = Table(W, Wo);
        var rng = new Random(P * 100 + H * 10 + Wo);
        float[] x = Rand(rng, s.InLength), g = Rand(rng, s.OutLength);
        float[] y0 = new float[s.OutLength], y1 = new float[s.OutLength];
        Nearest.Forward(NearestVersion.V0Reference, x, y0, hi, wi, s);
        Nearest.Forward(NearestVersion.V1Rows, x, y1, hi, wi, s);
        Assert.That(y1, Is.EqualTo(y0), "forward is a copy: exact");

        float[] d0 = Enumerable.Repeat(float.NaN, (int)s.InLength).ToArray(), d1 = (float[])d0.Clone();   // overwritten, not accumulated
        Nearest.Adjoint(NearestVersion.V0Reference, g, d0, hi, wi, s);
        Nearest.Adjoint(NearestVersion.V1Rows, g, d1, hi, wi, s);
        for (int i = 0; i < d0.Length; i++)
            Assert.That(d1[i], Is.EqualTo(d0[i]).Within(1e-5 * (1 + Math.Abs(d0[i]))), $"adjoint at {i}");

        // ⟨F x, g⟩ = ⟨x, Fᵀ g⟩ in double: the adjoint is the transpose of the forward.
        double lhs = 0, rhs = 0;
        for (int i = 0; i < y1.Length; i++) lhs += (double)y1[i] * g[i];
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * d1[i];
        Assert.That(rhs, Is.EqualTo(lhs).Within(1e-4 * (1 + Math.Abs(lhs))));
    }

    [Test]
    public void Nearest_SameBitsOnOneAndTwoThreads()
    {
        var s = new NearestShape(1025, 7, 7, 14, 14);   // 200K outputs: several parts
        int[] hi = Table(7, 14), wi = Table(7, 14);
        var rng = new Random(3);
        float[] x = Rand(rng, s.InLength), g = Rand(rng, s.OutLength);
        int saved = WorkerPool.Threads;
        try
        {
            (float[] Y, float[] Dx) Run()
            {
                float[] y = new float[s.OutLength], dx = new float[s.InLength];
                Nearest.Forward(x, y, hi, wi, s);
                Nearest.Adjoint(g, dx, hi, wi, s);
                return (y, dx);
            }
            WorkerPool.Threads = 1;
            var one = Run();
            WorkerPool.Threads = 2;
            var two = Run();
            Assert.That(two.Y, Is.EqualTo(one.Y));
            Assert.That(two.Dx, Is.EqualTo(one.Dx));
        }
        finally { WorkerPool.Threads = saved; }
    }

    [Test]
    public void Nearest_BadTables_Throw_NamingTheShape()
    {
        var s = new NearestShape(1, 2, 2, 4, 4);
        var ex = Assert.Throws<ArgumentException>(() => Nearest.Forward(new float[4], new float[16], [0, 0, 1, 2], [0, 0, 1, 1], s));
        Assert.That(ex!.Message, Does.Contain("source row 2"));
        ex = Assert.Throws<ArgumentException>(() => Nearest.Forward(new float[4], new float[15], [0, 0, 1, 1], [0, 0, 1, 1], s));
        Assert.That(ex!.Message, Does.Contain("P·Ho·Wo = 16"));
    }

    static float[] Rand(Random rng, long n)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}
