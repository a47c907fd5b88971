// LayerNormSoftmaxTests.cs — the fused LayerNorm and [log-]softmax kernels (kernels/Cpu/Norm/LayerNorm.cs,
// Softmax.cs) against their V0 references on odd shapes (rows of 1, 7, 13, 17, 31, 65, 257: non-multiples
// of the vector width, tails only, one row, no rows), and the promise of the same bits on 1 and 2 threads.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.LayerNormSoftmax
// (prefix DOTNET_PreferredVectorBitWidth=256 to run the Vector256 paths on an AVX-512 machine)
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class LayerNormSoftmaxTests
{
    // R rows of D (or L)
    static readonly int[][] Shapes = { [1, 1], [3, 7], [13, 16], [5, 17], [2, 31], [33, 65], [4, 257], [0, 5], [700, 48] };

    static IEnumerable<TestCaseData> LayerNormCases()
    {
        foreach (var sh in Shapes)
            foreach (bool affine in new[] { false, true })
                yield return new TestCaseData(sh[0], sh[1], affine).SetName($"LayerNorm_V1MatchesV0_R{sh[0]}_D{sh[1]}_{(affine ? "affine" : "noaffine")}");
    }

    [TestCaseSource(nameof(LayerNormCases))]
    public void LayerNorm_V1MatchesV0(int R, int D, bool affine)
    {
        var rng = new Random(R * 100 + D);
        float[] x = Rand(rng, R * D, 3f), dy = Rand(rng, R * D, 1f);
        for (int i = 0; i < x.Length; i++) x[i] += 40f;   // an offset that a naive E[x²] − E[x]² would not survive
        float[] gamma = affine ? Rand(rng, D, 1.5f) : [], beta = affine ? Rand(rng, D, 1f) : [];
        var r0 = RunLayerNorm(NormVersion.V0Reference, x, dy, gamma, beta, D);
        var r1 = RunLayerNorm(NormVersion.V1Fused, x, dy, gamma, beta, D);
        AssertClose(r1.Y, r0.Y, 2e-5, "y");
        AssertClose(r1.Dx, r0.Dx, 1e-4, "dx");
        if (affine)
        {
            // dγ/dβ are float sums over R rows: tolerance grows with the number of terms.
            AssertClose(r1.Dg, r0.Dg, 2e-5 * (1 + R), "dγ");
            AssertClose(r1.Db, r0.Db, 2e-5 * (1 + R), "dβ");
        }
    }

    static IEnumerable<TestCaseData> SoftmaxCases()
    {
        foreach (var sh in Shapes)
            foreach (bool log in new[] { false, true })
                yield return new TestCaseData(sh[0], sh[1], log).SetName($"{(log ? "LogSoftmax" : "Softmax")}_V1MatchesV0_R{sh[0]}_L{sh[1]}");
    }

    [TestCaseSource(nameof(SoftmaxCases))]
    public void Softmax_V1MatchesV0(int R, int L, bool log)
    {
        var rng = new Random(R * 100 + L + (log ? 7 : 0));
        float[] x = Rand(rng, R * L, 8f), dy = Rand(rng, R * L, 1f);
        if (R * L > 2) { x[1] = -90f; x[2] = 85f; }   // far from the others: e^(x − m) underflows, the max dominates
        float[] y0 = new float[x.Length], y1 = new float[x.Length], dx0 = new float[x.Length], dx1 = new float[x.Length];
        Softmax.Forward(NormVersion.V0Reference, x, y0, L, log);
        Softmax.Forward(NormVersion.V1Fused, x, y1, L, log);
        AssertClose(y1, y0, log ? 2e-5 : 2e-6, "y");
        Softmax.Backward(NormVersion.V0Reference, y0, dy, dx0, L, log);
        Softmax.Backward(NormVersion.V1Fused, y0, dy, dx1, L, log);
        AssertClose(dx1, dx0, 2e-5 * (1 + (log ? L : 0)), "dx");
    }

    [Test]
    public void Softmax_AllMinusInfinityRow_GivesNaN_AsThePeerDoes()
    {
        var x = new float[20];
        Array.Fill(x, float.NegativeInfinity);
        var y = new float[20];
        Softmax.Forward(x, y, 20, log: false);
        Assert.That(y, Is.All.NaN);
    }

    [Test]
    public void LayerNormAndSoftmax_V1_SameBitsOnOneAndTwoThreads()
    {
        const int R = 517, D = 96;
        var rng = new Random(3);
        float[] x = Rand(rng, R * D, 2f), dy = Rand(rng, R * D, 1f), gamma = Rand(rng, D, 1f), beta = Rand(rng, D, 1f);
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1;
            var one = RunLayerNorm(NormVersion.V1Fused, x, dy, gamma, beta, D);
            float[] s1 = new float[x.Length], ds1 = new float[x.Length];
            Softmax.Forward(x, s1, D, false); Softmax.Backward(s1, dy, ds1, D, false);
            WorkerPool.Threads = 2;
            var two = RunLayerNorm(NormVersion.V1Fused, x, dy, gamma, beta, D);
            float[] s2 = new float[x.Length], ds2 = new float[x.Length];
            Softmax.Forward(x, s2, D, false); Softmax.Backward(s2, dy, ds2, D, false);
            Assert.That(two.Y, Is.EqualTo(one.Y));
            Assert.That(two.Dx, Is.EqualTo(one.Dx));
            Assert.That(two.Dg, Is.EqualTo(one.Dg));
            Assert.That(two.Db, Is.EqualTo(one.Db));
            Assert.That(s2, Is.EqualTo(s1));
            Assert.That(ds2, Is.EqualTo(ds1));
        }
        finally { WorkerPool.Threads = saved; }
    }

    [Test]
    public void LayerNorm_BadLengths_ThrowWithShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerNorm.Forward(new float[10], default, default, new float[10], new float[3], new float[3], 4, 1e-5f));
        Assert.That(ex!.Message, Does.Contain("D = 4"));
        var ex2 = Assert.Throws<ArgumentException>(() => Softmax.Forward(new float[12], new float[8], 4, false));
        Assert.That(ex2!.Message, Does.Contain("12/8"));
    }

    static (float[] Y, float[] Dx, float[] Dg, float[] Db) RunLayerNorm(NormVersion v, float[] x, float[] dy, float[] gamma, float[] beta, int D)
    {
        int R = x.Length / D;
        float[] y = new float[x.Length], mean = new float[R], rstd = new float[R], dx = new float[x.Length];
        float[] dg = gamma.Length > 0 ? new float[D] : [], db = beta.Length > 0 ? new float[D] : [];
        LayerNorm.Forward(v, x, gamma, beta, y, mean, rstd, D, 1e-5f);
        LayerNorm.Backward(v, x, dy, gamma, mean, rstd, dx, dg, db, D);
        return (y, dx, dg, db);
    }

    static float[] Rand(Random rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    static void AssertClose(float[] actual, float[] expected, double tol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tol * (1 + Math.Abs(expected[i]))), $"{what}[{i}]");
    }
}
