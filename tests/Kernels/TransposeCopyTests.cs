// TransposeCopyTests.cs — kernels/Cpu/TransposeCopy.cs V1 against V0 on odd block sizes (1, primes,
// around 16), with padded leading dimensions; and the engine's contiguous copy of transposed views
// (Tensor.ContiguousCopy → StridedCopy.TryTransposed) against element-wise indexing.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~TransposeCopy
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

public class TransposeCopyTests
{
    [TestCase(1, 1, 0, 0), TestCase(16, 16, 0, 0), TestCase(17, 15, 3, 1), TestCase(49, 128, 0, 0), TestCase(128, 49, 5, 7),
     TestCase(33, 31, 0, 2), TestCase(7, 64, 1, 0)]
    public unsafe void TransposeCopy_V1MatchesV0(int R, int C, int padS, int padD)
    {
        int lds = C + padS, ldd = R + padD;
        var rng = new Random(R * 100 + C);
        var src = new float[Math.Max(1, R * lds)];
        for (int i = 0; i < src.Length; i++) src[i] = (float)rng.NextDouble();
        float[] d0 = Enumerable.Repeat(-7f, Math.Max(1, C * ldd)).ToArray(), d1 = (float[])d0.Clone();
        fixed (float* ps = src, p0 = d0, p1 = d1)
        {
            TransposeCopy.Run(TransposeCopyVersion.V0Naive, ps, lds, p0, ldd, R, C);
            TransposeCopy.Run(TransposeCopyVersion.V1Blocks16, ps, lds, p1, ldd, R, C);
        }
        Assert.That(d1, Is.EqualTo(d0));   // padding of dst left alone by both
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                Assert.That(d0[c * ldd + r], Is.EqualTo(src[r * lds + c]));
    }

    /// <summary>Transposed views the fast path takes (and a few it must decline) copy every element to its place.</summary>
    [TestCase(new[] { 5, 17, 49 }, 1, 2), TestCase(new[] { 3, 128, 49 }, 1, 2), TestCase(new[] { 2, 3, 20, 33 }, 2, 3),
     TestCase(new[] { 2, 3, 20, 33 }, 1, 3), TestCase(new[] { 4, 7, 5 }, 1, 2), TestCase(new[] { 40, 19 }, 0, 1)]
    public void Contiguous_OfATransposedView_MatchesIndexing(int[] shape, int d0, int d1)
    {
        using var scope = TensorScope.Begin();
        var x = GradCheck.Rand(3, shape);
        var t = x.Transpose(d0, d1);
        var y = t.Contiguous().ToArray();
        var xs = x.ToArray();
        int[] ts = t.Shape.ToArray(), tst = t.Strides.ToArray();
        var idx = new int[ts.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int p = 0;
            for (int d = 0; d < ts.Length; d++) p += idx[d] * tst[d];
            Assert.That(y[i], Is.EqualTo(xs[p]), $"element {i}");
            for (int d = ts.Length - 1; d >= 0; d--) { if (++idx[d] < ts[d]) break; idx[d] = 0; }
        }
    }
}
