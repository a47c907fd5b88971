// BatchNormTests.cs — the BatchNorm kernel (kernels/Cpu/Norm/BatchNorm.cs): V1Fused against the
// V0Reference double loops on odd shapes (S = 1 with C below, at and past the 16-channel vector,
// spatial sizes that are not multiples of 16, N = 2), and the same bits on 1 and 2 threads.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.BatchNorm
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture, NonParallelizable]
public class BatchNormTests
{
    static readonly BatchNormShape[] Shapes =
    {
        new(2, 1, 1, 1e-5f), new(5, 7, 1, 1e-5f), new(13, 16, 1, 1e-5f), new(3, 37, 1, 1e-5f),
        new(2, 3, 7, 1e-5f), new(4, 5, 49, 1e-5f), new(3, 2, 65, 1e-3f), new(7, 13, 17, 1e-5f),
    };

    [TestCaseSource(nameof(Indices))]
    public void V1_MatchesV0_ForwardAndBackward(int index)
    {
        var s = Shapes[index];
        var rng = new Random(index);
        // An offset mean (3) so centring matters; γ, β, dy arbitrary.
        float[] x = Rand(rng, s.Length, 3f), dy = Rand(rng, s.Length, 0f), ga = Rand(rng, s.C, 0f), be = Rand(rng, s.C, 0f);
        var r0 = Run(NormVersion.V0Reference, s, x, dy, ga, be);
        var r1 = Run(NormVersion.V1Fused, s, x, dy, ga, be);
        for (int k = 0; k < r0.Length; k++)
            for (int i = 0; i < r0[k].Length; i++)
                Assert.That(r1[k][i], Is.EqualTo(r0[k][i]).Within(2e-5 * (1 + Math.Abs(r0[k][i])) * (1 + s.M / 64.0)), $"output {k}[{i}] of {s}");
    }

    static IEnumerable<int> Indices() => Enumerable.Range(0, Shapes.Length);

    [Test]
    public void V1_SameBitsOnOneAndTwoThreads()
    {
        foreach (var s in new[] { new BatchNormShape(64, 2000, 1, 1e-5f), new BatchNormShape(8, 37, 300, 1e-5f) })
        {
            var rng = new Random(3);
            float[] x = Rand(rng, s.Length, 1f), dy = Rand(rng, s.Length, 0f), ga = Rand(rng, s.C, 0f), be = Rand(rng, s.C, 0f);
            int saved = WorkerPool.Threads;
            try
            {
                WorkerPool.Threads = 1;
                var one = Run(NormVersion.V1Fused, s, x, dy, ga, be);
                WorkerPool.Threads = 2;
                var two = Run(NormVersion.V1Fused, s, x, dy, ga, be);
                for (int k = 0; k < one.Length; k++) Assert.That(two[k], Is.EqualTo(one[k]), $"output {k} of {s}");
            }
            finally { WorkerPool.Threads = saved; }
        }
    }

    [Test]
    public void Forward_WrongLengths_Throw()
    {
        var s = new BatchNormShape(2, 3, 4, 1e-5f);
        var ex = Assert.Throws<ArgumentException>(() => BatchNorm.Forward(new float[23], default, default, new float[24], new float[3], new float[3], new float[3], s));
        Assert.That(ex!.Message, Does.Contain("N·C·S = 24"));
    }

    /// <summary>y, mean, var, rstd, dx, dγ, dβ.</summary>
    static float[][] Run(NormVersion v, BatchNormShape s, float[] x, float[] dy, float[] ga, float[] be)
    {
        float[] y = Nan(s.Length), mean = Nan(s.C), var = Nan(s.C), rstd = Nan(s.C), dx = Nan(s.Length), dga = Nan(s.C), dbe = Nan(s.C);
        BatchNorm.Forward(v, x, ga, be, y, mean, var, rstd, s);
        BatchNorm.Backward(v, x, dy, ga, mean, rstd, dx, dga, dbe, s);
        return [y, mean, var, rstd, dx, dga, dbe];
    }

    static float[] Nan(long n) { var a = new float[n]; Array.Fill(a, float.NaN); return a; }

    static float[] Rand(Random rng, long n, float offset)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) + offset;
        return a;
    }
}
