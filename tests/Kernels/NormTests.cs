// NormTests.cs — the fused norm kernels (kernels/Cpu/Norm/) against their V0 references on odd
// shapes (1, 7, 13, 16, 31, 49, 65, 196, 257; empty batch), with and without γ/β and SiLU, and the promise of
// the same bits on 1 and 2 threads.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Norm
// (prefix DOTNET_PreferredVectorBitWidth=256 to run the Vector256 paths on an AVX-512 machine)
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class NormTests
{
    // N, C, S, G
    static readonly int[][] Shapes =
    {
        [1, 1, 1, 1], [7, 13, 7, 13], [13, 4, 31, 2], [2, 8, 65, 4], [3, 6, 257, 3], [0, 4, 5, 2], [65, 16, 17, 8],
        [3, 4, 16, 2], [2, 16, 49, 8], [1, 2, 196, 1],   // V2's row ends: exactly one vector, the K3 rows 7×7 and 14×14
    };

    static IEnumerable<TestCaseData> Cases()
    {
        foreach (var v in new[] { NormVersion.V1Fused, NormVersion.V2Overlap })
            foreach (var sh in Shapes)
                foreach (bool silu in new[] { false, true })
                    foreach (bool affine in new[] { false, true })
                        yield return new TestCaseData(v, sh[0], sh[1], sh[2], sh[3], silu, affine)
                            .SetName($"GroupNorm_{v}MatchesV0_N{sh[0]}_C{sh[1]}_S{sh[2]}_G{sh[3]}_{(silu ? "silu" : "plain")}_{(affine ? "affine" : "noaffine")}");
    }

    [TestCaseSource(nameof(Cases))]
    public void GroupNorm_MatchesV0(NormVersion v, int N, int C, int S, int G, bool silu, bool affine)
    {
        var s = new GroupNormShape(N, C, S, G, 1e-5f, silu);
        var rng = new Random(N * 1000 + C * 10 + S);
        float[] x = Rand(rng, s.Length, 3f), dy = Rand(rng, s.Length, 1f);
        float[] gamma = affine ? Rand(rng, C, 1.5f) : [], beta = affine ? Rand(rng, C, 1f) : [];
        // A per-sample offset makes a naive E[x²] − E[x]² lose digits; both versions must not.
        for (int i = 0; i < x.Length; i++) x[i] += 50f;
        var r0 = Run(NormVersion.V0Reference, x, dy, gamma, beta, s);
        var r1 = Run(v, x, dy, gamma, beta, s);
        AssertClose(r1.Y, r0.Y, 2e-5, "y");
        AssertClose(r1.Dx, r0.Dx, 1e-4, "dx");
        // dγ/dβ sum N·S terms in float vectors: relative to the number of terms.
        AssertClose(r1.Dg, r0.Dg, 2e-5 * (1 + N * S), "dγ");
        AssertClose(r1.Db, r0.Db, 2e-5 * (1 + N * S), "dβ");
    }

    static IEnumerable<TestCaseData> ShiftCases()
    {
        foreach (var v in new[] { NormVersion.V1Fused, NormVersion.V2Overlap })
            foreach (var sh in Shapes)
                foreach (bool silu in new[] { false, true })
                    yield return new TestCaseData(v, sh[0], sh[1], sh[2], sh[3], silu)
                        .SetName($"GroupNorm_Shift_{v}MatchesV0_N{sh[0]}_C{sh[1]}_S{sh[2]}_G{sh[3]}_{(silu ? "silu" : "plain")}");
    }

    /// <summary>The per-(n, c) shift: every version against V0, and V0 against the plain norm of x + shift
    /// (dshift against Σ_s dx of that norm).</summary>
    [TestCaseSource(nameof(ShiftCases))]
    public void GroupNorm_Shift_MatchesV0(NormVersion v, int N, int C, int S, int G, bool silu)
    {
        var s = new GroupNormShape(N, C, S, G, 1e-5f, silu);
        var rng = new Random(N * 1000 + C * 10 + S + 7);
        float[] x = Rand(rng, s.Length, 3f), dy = Rand(rng, s.Length, 1f), shift = Rand(rng, N * C, 4f);
        float[] gamma = Rand(rng, C, 1.5f), beta = Rand(rng, C, 1f);
        for (int i = 0; i < x.Length; i++) x[i] += 50f;
        var r0 = RunShift(NormVersion.V0Reference, x, dy, gamma, beta, shift, s);
        var r1 = RunShift(v, x, dy, gamma, beta, shift, s);
        AssertClose(r1.Y, r0.Y, 2e-5, "y");
        AssertClose(r1.Dx, r0.Dx, 1e-4, "dx");
        AssertClose(r1.Dg, r0.Dg, 2e-5 * (1 + N * S), "dγ");
        AssertClose(r1.Db, r0.Db, 2e-5 * (1 + N * S), "dβ");
        AssertClose(r1.Dshift, r0.Dshift, 2e-5 * (1 + S), "dshift");

        // V0 with the shift = V0 on the shifted input.
        var xs = (float[])x.Clone();
        for (int i = 0; i < xs.Length; i++) xs[i] += shift[i / S];
        var plain = Run(NormVersion.V0Reference, xs, dy, gamma, beta, s);
        AssertClose(r0.Y, plain.Y, 2e-5, "y vs x + shift");
        AssertClose(r0.Dx, plain.Dx, 1e-4, "dx vs x + shift");
        var rowSums = new float[N * C];
        for (int i = 0; i < rowSums.Length; i++) { double t = 0; for (int j = 0; j < S; j++) t += plain.Dx[i * S + j]; rowSums[i] = (float)t; }
        AssertClose(r0.Dshift, rowSums, 1e-4 * (1 + S), "dshift vs Σ dx");
    }

    [TestCase(NormVersion.V1Fused), TestCase(NormVersion.V2Overlap)]
    public void GroupNorm_Shift_SameBitsOnOneAndTwoThreads(NormVersion v)
    {
        var s = new GroupNormShape(65, 16, 49, 8, 1e-5f, true);
        var rng = new Random(6);
        float[] x = Rand(rng, s.Length, 2f), dy = Rand(rng, s.Length, 1f), gamma = Rand(rng, 16, 1f), beta = Rand(rng, 16, 1f);
        float[] shift = Rand(rng, 65 * 16, 1f);
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1;
            var one = RunShift(v, x, dy, gamma, beta, shift, s);
            WorkerPool.Threads = 2;
            var two = RunShift(v, x, dy, gamma, beta, shift, s);
            Assert.That(two.Y, Is.EqualTo(one.Y));
            Assert.That(two.Dx, Is.EqualTo(one.Dx));
            Assert.That(two.Dg, Is.EqualTo(one.Dg));
            Assert.That(two.Dshift, Is.EqualTo(one.Dshift));
        }
        finally { WorkerPool.Threads = saved; }
    }

    static (float[] Y, float[] Dx, float[] Dg, float[] Db, float[] Dshift) RunShift(NormVersion v, float[] x, float[] dy, float[] gamma,
        float[] beta, float[] shift, GroupNormShape s)
    {
        float[] y = Nan(s.Length), dx = Nan(s.Length), mean = new float[s.N * s.G], rstd = new float[s.N * s.G];
        float[] dg = Nan(s.C), db = Nan(s.C), dsh = Nan(s.N * s.C);
        GroupNorm.Forward(v, x, gamma, beta, shift, y, mean, rstd, s);
        GroupNorm.Backward(v, x, dy, gamma, beta, shift, mean, rstd, dx, dg, db, dsh, s);
        return (y, dx, dg, db, dsh);
    }

    [TestCase(NormVersion.V1Fused), TestCase(NormVersion.V2Overlap)]
    public void GroupNorm_SameBitsOnOneAndTwoThreads(NormVersion v)
    {
        var s = new GroupNormShape(65, 16, 196, 8, 1e-5f, true);
        var rng = new Random(5);
        float[] x = Rand(rng, s.Length, 2f), dy = Rand(rng, s.Length, 1f), gamma = Rand(rng, 16, 1f), beta = Rand(rng, 16, 1f);
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 1;
            var one = Run(v, x, dy, gamma, beta, s);
            WorkerPool.Threads = 2;
            var two = Run(v, x, dy, gamma, beta, s);
            Assert.That(two.Y, Is.EqualTo(one.Y));
            Assert.That(two.Dx, Is.EqualTo(one.Dx));
            Assert.That(two.Dg, Is.EqualTo(one.Dg));
            Assert.That(two.Db, Is.EqualTo(one.Db));
        }
        finally { WorkerPool.Threads = saved; }
    }

    static (float[] Y, float[] Dx, float[] Dg, float[] Db) Run(NormVersion v, float[] x, float[] dy, float[] gamma, float[] beta, GroupNormShape s)
    {
        float[] y = Nan(s.Length), dx = Nan(s.Length), mean = new float[s.N * s.G], rstd = new float[s.N * s.G];
        float[] dg = Nan(s.C), db = Nan(s.C);
        GroupNorm.Forward(v, x, gamma, beta, y, mean, rstd, s);
        GroupNorm.Backward(v, x, dy, gamma, beta, mean, rstd, dx, dg, db, s);
        return (y, dx, dg, db);
    }

    internal static void AssertClose(float[] actual, float[] expected, double tol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tol * (1 + Math.Abs(expected[i]))), $"{what}[{i}]");
    }

    internal static float[] Nan(long n) { var a = new float[n]; Array.Fill(a, float.NaN); return a; }

    internal static float[] Rand(Random rng, long n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }
}
