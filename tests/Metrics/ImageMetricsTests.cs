// ImageMetrics on constructed cases with known answers (no MNIST needed): FID against the
// closed-form Fréchet distance (diagonal, commuting, and from samples of known Gaussians), KID's
// unbiasedness against an analytic population MMD² of the cubic kernel, precision/recall on
// Gaussian mixtures (a single mode: precision ≈ 1, recall ≈ 1/10; the data against itself: 1/1),
// and the class histogram on hand-counted cases.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.ImageMetrics
using System.Runtime.CompilerServices;
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class ImageMetricsTests
{
    // ---------------------------------------------------------------- FID

    [Test]
    public void Fid_DiagonalCovariances_MatchesClosedForm()
    {
        // Diagonal Σ: Tr((Σ₁Σ₂)^{1/2}) = Σ √(a_k b_k), so FID = ‖μ₁−μ₂‖² + Σ (√a_k − √b_k)².
        double[] mu1 = [0, 1, -2, 0.5], mu2 = [1, 1, 0, 0.5], a = [1, 4, 0.25, 2], b = [9, 1, 0.25, 0.5];
        double expected = 1 + 0 + 4 + 0 + (1 - 3) * (1 - 3) + (2 - 1) * (2 - 1) + 0 + Math.Pow(Math.Sqrt(2) - Math.Sqrt(0.5), 2);
        Assert.That(ImageMetrics.FrechetDistance(mu1, Diag(a), mu2, Diag(b)), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void Fid_CommutingCovariances_MatchesClosedForm()
    {
        // Σ₁ = Q·diag(a)·Qᵀ, Σ₂ = Q·diag(b)·Qᵀ share eigenvectors: (Σ₁Σ₂)^{1/2} = Q·diag(√(ab))·Qᵀ.
        const int d = 16;
        var rng = new Random(3);
        var q = Orthogonal(rng, d);
        var a = Enumerable.Range(0, d).Select(_ => 0.01 + 3 * rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, d).Select(_ => 0.01 + 3 * rng.NextDouble()).ToArray();
        var mu1 = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray();
        var mu2 = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray();
        double expected = mu1.Zip(mu2).Sum(p => (p.First - p.Second) * (p.First - p.Second)) +
                          a.Zip(b).Sum(p => Math.Pow(Math.Sqrt(p.First) - Math.Sqrt(p.Second), 2));
        double fid = ImageMetrics.FrechetDistance(mu1, SymmetricEigen.Reconstruct(a, q), mu2, SymmetricEigen.Reconstruct(b, q));
        Assert.That(fid, Is.EqualTo(expected).Within(1e-10 * (1 + expected)));
        Assert.That(ImageMetrics.FrechetDistance(mu1, SymmetricEigen.Reconstruct(a, q), mu1, SymmetricEigen.Reconstruct(a, q)),
                    Is.EqualTo(0).Within(1e-10), "a Gaussian against itself");
    }

    [Test]
    public void Fid_FromSamplesOfKnownGaussians_ApproachesClosedForm()
    {
        // 40,000 draws each of N(0, diag(1, 2, 0.5)) and N((1, 0, 0), diag(2, 1, 0.5)):
        // FID = 1 + (1 − √2)² + (√2 − 1)² = 1.3431. Sampling error of the statistics at N = 40,000 is ~0.02.
        const int n = 40_000;
        var x = Tensor.Randn([n, 3], new Generator(1)) * Tensor.FromArray([1f, MathF.Sqrt(2), MathF.Sqrt(0.5f)], 1, 3);
        var y = Tensor.Randn([n, 3], new Generator(2)) * Tensor.FromArray([MathF.Sqrt(2), 1f, MathF.Sqrt(0.5f)], 1, 3) + Tensor.FromArray([1f, 0f, 0f], 1, 3);
        double expected = 1 + 2 * Math.Pow(Math.Sqrt(2) - 1, 2);
        Assert.That(ImageMetrics.Fid(x, y), Is.EqualTo(expected).Within(0.06));
        var stats = FeatureStatistics.Of(x);
        Assert.That(stats.Covariance[1, 1], Is.EqualTo(2).Within(0.05));
        Assert.That(stats.Covariance[0, 1], Is.EqualTo(0).Within(0.03));
    }

    [Test]
    public void FeatureStatistics_MatchesTwoPassDoubleReference()
    {
        var x = GradCheck.Rand(5, -1f, 1f, 9, 4);
        var v = x.ToArray();
        var s = FeatureStatistics.Of(x);
        for (int a = 0; a < 4; a++)
        {
            double ma = Enumerable.Range(0, 9).Average(i => (double)v[i * 4 + a]);
            Assert.That(s.Mean[a], Is.EqualTo(ma).Within(1e-12));
            for (int b = 0; b < 4; b++)
            {
                double mb = Enumerable.Range(0, 9).Average(i => (double)v[i * 4 + b]);
                double c = Enumerable.Range(0, 9).Sum(i => (v[i * 4 + a] - ma) * (v[i * 4 + b] - mb)) / 8;
                Assert.That(s.Covariance[a, b], Is.EqualTo(c).Within(1e-12));
            }
        }
    }

    // ---------------------------------------------------------------- KID

    /// <summary>Raw moments E[x], E[x²], E[x³] of N(μ, 1).</summary>
    static (double M1, double M2, double M3) Moments(double mu) => (mu, mu * mu + 1, mu * mu * mu + 3 * mu);

    /// <summary>
    /// In d = 1 the KID kernel is (xy + 1)³ = 1 + 3xy + 3x²y² + x³y³, so for independent x, y:
    /// E k(x, y) = 1 + 3E[x]E[y] + 3E[x²]E[y²] + E[x³]E[y³]; MMD² = E k(x,x') + E k(y,y') − 2E k(x,y).
    /// </summary>
    static double PopulationMmd2(double muX, double muY)
    {
        double K((double, double, double) p, (double, double, double) q) => 1 + 3 * p.Item1 * q.Item1 + 3 * p.Item2 * q.Item2 + p.Item3 * q.Item3;
        var (px, py) = (Moments(muX), Moments(muY));
        return K(px, px) + K(py, py) - 2 * K(px, py);
    }

    [TestCase(0.0, 0.0)]   // same distribution: MMD² = 0
    [TestCase(0.0, 0.5)]   // MMD² = 4 + 9.078125 − 2·4.75 = 3.578125
    public void PolynomialMmd2_Unbiased_AveragesToThePopulationValue(double muX, double muY)
    {
        // 4,000 repetitions with only 10 samples a side, where the biased (V-statistic) estimator is
        // visibly off: its diagonal adds (E k(x,x) − E k(x,x'))/10 = (28 − 4)/10 = 2.4 from x alone.
        const int reps = 4000, n = 10;
        double population = PopulationMmd2(muX, muY);
        var gen = new Generator(11);
        var u = new double[reps];
        var v = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.Randn([n, 1], gen) + (float)muX;
            var y = Tensor.Randn([n, 1], gen) + (float)muY;
            u[r] = ImageMetrics.PolynomialMmd2(x, y, unbiased: true);
            v[r] = ImageMetrics.PolynomialMmd2(x, y, unbiased: false);
        }
        double mean = u.Average(), se = Math.Sqrt(u.Sum(t => (t - mean) * (t - mean)) / (reps - 1) / reps);
        TestContext.Out.WriteLine($"population {population:F4}; unbiased mean {mean:F4} ± {se:F4}; biased mean {v.Average():F4}");
        Assert.That(mean, Is.EqualTo(population).Within(4 * se));
        Assert.That(Math.Abs(v.Average() - population), Is.GreaterThan(8 * se), "the test can tell the biased estimator apart");
    }

    [Test]
    public void Kid_SameDistribution_IsNearZero_ShiftedIsPositive()
    {
        var a = Tensor.Randn([600, 16], new Generator(1));
        var b = Tensor.Randn([600, 16], new Generator(2));
        var same = ImageMetrics.Kid(a, b, subsets: 20, subsetSize: 300);
        var shifted = ImageMetrics.Kid(a, b + 0.5f, subsets: 20, subsetSize: 300);
        TestContext.Out.WriteLine($"KID same {same.Mean:G4} ± {same.Std:G3}; shifted {shifted.Mean:G4} ± {shifted.Std:G3}");
        Assert.That(Math.Abs(same.Mean), Is.LessThan(2 * same.Std + 1e-4));
        Assert.That(shifted.Mean, Is.GreaterThan(10 * shifted.Std));
        Assert.That((same.Subsets, same.SubsetSize), Is.EqualTo((20, 300)));
    }

    [Test]
    public void SampleDistances_Mmd2_BiasedKeepsTheDiagonal_UnbiasedIsTheDefault()
    {
        var a = Tensor.Randn([40, 2], new Generator(1));
        var b = Tensor.Randn([30, 2], new Generator(2));
        Assert.That(SampleDistances.Mmd2(a, b), Is.EqualTo(SampleDistances.Mmd2(a, b, unbiased: true)));
        Assert.That(SampleDistances.Mmd2(a, a, unbiased: false, 0.5, 1.0), Is.EqualTo(0).Within(1e-12), "V-statistic of a set against itself");
        Assert.That(SampleDistances.Mmd2(a, b, unbiased: false), Is.GreaterThan(SampleDistances.Mmd2(a, b, unbiased: true)));
    }

    // ---------------------------------------------------------------- precision / recall

    /// <summary>
    /// n points per component of a 10-component mixture in 4-d, centres ~8σ apart. (In 8-d, 100 points
    /// per mode leave the k-NN balls with gaps: even a fresh draw of the data scores only ~0.84.)
    /// </summary>
    static Tensor Mixture(int perComponent, ulong seed, float std = 1f, int[]? components = null)
    {
        const int D = 4;
        var centres = Tensor.Randn([10, D], new Generator(99)) * 8f;
        components ??= Enumerable.Range(0, 10).ToArray();
        var parts = components.Select((c, i) => Tensor.Randn([perComponent, D], new Generator(seed * 100 + (ulong)i)) * std + centres.Narrow(0, c, 1)).ToArray();
        return Tensor.Cat(parts, 0);
    }

    [Test]
    public void PrecisionRecall_OneModeOfTen_HasHighPrecisionAndLowRecall()
    {
        // The k-NN manifold of 100 points per mode has gaps at its edges, so even fresh data scores
        // precision ~0.9, not 1; samples from one true mode must score as well as fresh data does.
        var real = Mixture(100, 1);
        var oneMode = Mixture(300, 2, components: [0]);
        var pr = ImageMetrics.PrecisionRecall(real, oneMode);
        var fresh = ImageMetrics.PrecisionRecall(real, Mixture(100, 3));
        TestContext.Out.WriteLine($"one mode: precision {pr.Precision:F3}, recall {pr.Recall:F3}; fresh data: {fresh.Precision:F3}, {fresh.Recall:F3}");
        Assert.That(pr.Precision, Is.GreaterThan(0.85).And.EqualTo(fresh.Precision).Within(0.05));
        Assert.That(pr.Recall, Is.InRange(0.05, 0.15), "only the tenth of the data near mode 0 is covered");
        Assert.That(pr.K, Is.EqualTo(3));
    }

    [Test]
    public void PrecisionRecall_DataAgainstItself_IsOneAndOne_DisjointIsZero()
    {
        var real = Mixture(50, 1);
        var self = ImageMetrics.PrecisionRecall(real, real);
        Assert.That((self.Precision, self.Recall, self.Coverage), Is.EqualTo((1.0, 1.0, 1.0)));
        var far = real + 100f;
        var pr = ImageMetrics.PrecisionRecall(real, far);
        Assert.That((pr.Precision, pr.Recall, pr.Density, pr.Coverage), Is.EqualTo((0.0, 0.0, 0.0, 0.0)));
        var fresh = ImageMetrics.PrecisionRecall(real, Mixture(50, 3));
        TestContext.Out.WriteLine($"fresh draw: precision {fresh.Precision:F3}, recall {fresh.Recall:F3}");
        Assert.That(fresh.Precision, Is.GreaterThan(0.85));
        Assert.That(fresh.Recall, Is.GreaterThan(0.85));
    }

    [Test]
    public void PrecisionRecall_OverdispersedSamples_LosePrecisionKeepRecall()
    {
        var real = Mixture(100, 1);
        var blurry = Mixture(100, 4, std: 3f);
        var pr = ImageMetrics.PrecisionRecall(real, blurry);
        TestContext.Out.WriteLine($"3× wider: precision {pr.Precision:F3}, recall {pr.Recall:F3}");
        Assert.That(pr.Precision, Is.LessThan(0.3));
        Assert.That(pr.Recall, Is.GreaterThan(0.8));
    }

    // ---------------------------------------------------------------- classes

    [Test]
    public void ClassHistogram_HandCounts()
    {
        var uniform = ClassHistogram.Of(Enumerable.Range(0, 100).Select(i => i % 10).ToArray());
        Assert.That(uniform.Entropy, Is.EqualTo(Math.Log(10)).Within(1e-12));
        Assert.That((uniform.KlFromUniform, uniform.TotalVariationFromUniform, uniform.ClassesCovered, uniform.NormalizedEntropy),
                    Is.EqualTo((0.0, 0.0, 10, 1.0)).Using<(double, double, int, double)>((p, q) => Near(p, q)));
        var collapsed = ClassHistogram.Of([3, 3, 3, 3]);
        Assert.That((collapsed.Entropy, collapsed.KlFromUniform, collapsed.TotalVariationFromUniform, collapsed.ClassesCovered),
                    Is.EqualTo((0.0, Math.Log(10), 0.9, 1)).Using<(double, double, double, int)>((p, q) => Near(p, q)));
        var half = ClassHistogram.Of([0, 1, 0, 1], classes: 4);
        Assert.That(half.Counts, Is.EqualTo(new[] { 2, 2, 0, 0 }));
        Assert.That((half.Entropy, half.KlFromUniform, half.TotalVariationFromUniform, half.ClassesCovered),
                    Is.EqualTo((Math.Log(2), Math.Log(2), 0.5, 2)).Using<(double, double, double, int)>((p, q) => Near(p, q)));
        Assert.Throws<ArgumentException>(() => ClassHistogram.Of([0, 10]));
    }

    static bool Near(ITuple p, ITuple q)
    {
        for (int i = 0; i < p.Length; i++)
            if (Math.Abs(Convert.ToDouble(p[i]) - Convert.ToDouble(q[i])) > 1e-12) return false;
        return true;
    }

    [Test]
    public void ClassifierAccuracy_CountsMatches_AndRejectsLengthMismatch()
    {
        Assert.That(ImageMetrics.ClassifierAccuracy([1, 2, 3, 4], [1, 2, 0, 4]), Is.EqualTo(0.75));
        var e = Assert.Throws<ArgumentException>(() => ImageMetrics.ClassifierAccuracy([1, 2], [1]))!;
        Assert.That(e.Message, Does.Contain("2 predictions for 1"));
    }

    [Test]
    public void Metrics_RejectMismatchedFeatureWidths_NamingTheShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageMetrics.Fid(Tensor.Zeros(5, 3), Tensor.Zeros(5, 4)))!;
        Assert.That(e.Message, Does.Contain("3").And.Contain("4"));
        var k = Assert.Throws<ArgumentException>(() => ImageMetrics.Kid(Tensor.Zeros(5, 3), Tensor.Zeros(5, 4)))!;
        Assert.That(k.Message, Does.Contain("(5, 3)").And.Contain("(5, 4)"));
        var p = Assert.Throws<ArgumentException>(() => ImageMetrics.PrecisionRecall(Tensor.Zeros(5, 3, 1), Tensor.Zeros(5, 3)))!;
        Assert.That(p.Message, Does.Contain("(5, 3, 1)"));
    }

    // ---------------------------------------------------------------- helpers

    static double[,] Diag(double[] d)
    {
        var m = new double[d.Length, d.Length];
        for (int i = 0; i < d.Length; i++) m[i, i] = d[i];
        return m;
    }

    /// <summary>A random orthogonal matrix by Gram–Schmidt on random columns (independent of the eigensolver under test).</summary>
    static double[,] Orthogonal(Random rng, int n)
    {
        var q = SymmetricEigenTests.RandomMatrix(rng, n, n);
        for (int j = 0; j < n; j++)
        {
            for (int p = 0; p < j; p++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += q[i, j] * q[i, p];
                for (int i = 0; i < n; i++) q[i, j] -= dot * q[i, p];
            }
            double norm = Math.Sqrt(Enumerable.Range(0, n).Sum(i => q[i, j] * q[i, j]));
            for (int i = 0; i < n; i++) q[i, j] /= norm;
        }
        return q;
    }
}
