// ImageMetrics — sample-quality metrics of generated images, computed on feature vectors (for
// MNIST: MnistClassifier.Features, 128-d) or on class predictions. Each takes plain (N, d) Float32
// tensors, so any feature network can be used; MnistEvaluator.cs wires them to MNIST.
//
// FID, Fréchet Inception Distance (Heusel et al., 2017): fit a Gaussian to each feature set and
// take the Fréchet (Wasserstein-2) distance between the two Gaussians,
//   FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2·(Σ₁Σ₂)^{1/2}).
// Means and covariances (unbiased, 1/(N−1)) are accumulated in float64; Tr((Σ₁Σ₂)^{1/2}) is
// Σ √λ(Σ₁^{1/2} Σ₂ Σ₁^{1/2}) from symmetric Jacobi eigendecompositions (SymmetricEigen.cs), which
// never produces the complex round-off that scipy.linalg.sqrtm needs trimming for. FID is biased
// upwards at small N (Chong & Forsyth, 2020): compare models only at equal sample counts.
//
// KID, Kernel Inception Distance (Bińkowski et al., 2018): the unbiased estimator of MMD² with the
// cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³,
//   MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ,xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ,yⱼ) − 2/(mn) Σ_{i,j} k(xᵢ,yⱼ),
// averaged over random subsets of both sets (size min(1000, m, n), drawn without replacement within
// a subset), as in the paper's code; the spread over subsets gives a standard deviation. Unlike
// FID it is unbiased, so it can be negative when the distributions match. Gram matrices xᵀy come
// from the engine's float32 GEMM (relative error ~1e-7·√d, far below the metric's noise); the
// kernel and the sums are float64.
//
// Precision and recall (Kynkäänniemi et al., 2019, "Improved precision and recall"): estimate
// each set's manifold as the union of balls around its points with radius = distance to the
// point's k-th nearest neighbour in its own set (k = 3 in the paper). Then
//   precision = fraction of generated points inside the real manifold  (are samples realistic?)
//   recall    = fraction of real points inside the generated manifold  (is the data covered?)
// A generator that emits only zeros has precision ≈ 1 and recall ≈ 0.1.
// Precision is sensitive to outliers of the real set: an odd real digit far from the others has a
// huge ball, which can swallow a whole cluster of bad samples (on MNIST, uniform noise scores
// precision ~0.75 this way, though recall is 0 and FID is ~100× the floor). Density and coverage
// (Naeem et al., 2020, "Reliable fidelity and diversity metrics") are reported beside them for this
// reason, from the same balls around real points only:
//   density  = 1/(k·M) Σ_j #{real balls containing generated point j}   (≈ 1 for matching sets; can exceed 1)
//   coverage = fraction of real balls that contain at least one generated point.
//
// Class statistics: ClassifierAccuracy (class-conditional samples: does the classifier recognise
// the requested class?), ClassHistogram (unconditional samples: which classes appear — entropy,
// KL and total-variation distance from the uniform histogram; a mode-collapsed GAN shows here).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics
namespace Denoise.Metrics;

/// <summary>Mean and covariance (float64) of a feature set: all that FID needs, so a data set's can be computed once.</summary>
public sealed record FeatureStatistics(double[] Mean, double[,] Covariance, int Count)
{
    public int Dim => Mean.Length;

    /// <summary>Mean and unbiased covariance (divides by N−1) of the rows of <paramref name="features"/> (N, d), N ≥ 2.</summary>
    public static FeatureStatistics Of(Tensor features)
    {
        var (x, n, d) = ImageMetrics.Rows(features, "FeatureStatistics.Of", minRows: 2);
        var mean = new double[d];
        for (int i = 0; i < n; i++) for (int k = 0; k < d; k++) mean[k] += x[i * d + k];
        for (int k = 0; k < d; k++) mean[k] /= n;
        // Upper triangle of Σ (x−μ)(x−μ)ᵀ, one centred row at a time, then mirrored.
        var cov = new double[d, d];
        var row = new double[d];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++) row[k] = x[i * d + k] - mean[k];
            for (int a = 0; a < d; a++)
            {
                double ra = row[a];
                if (ra == 0) continue;   // ReLU features are often exactly zero
                for (int b = a; b < d; b++) cov[a, b] += ra * row[b];
            }
        }
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) cov[b, a] = cov[a, b] /= n - 1;
        return new FeatureStatistics(mean, cov, n);
    }
}

/// <summary>KID as the mean of unbiased MMD² over subsets, with its standard deviation across subsets.</summary>
public sealed record KidResult(double Mean, double Std, int Subsets, int SubsetSize);

/// <summary>Kynkäänniemi et al. (2019) precision and recall with k-NN manifolds, and Naeem et al. (2020) density and coverage.</summary>
public sealed record PrecisionRecall(double Precision, double Recall, int K, double Density = double.NaN, double Coverage = double.NaN);

/// <summary>
/// How a set of predicted classes spreads over <c>Counts.Length</c> classes. Entropy in nats;
/// KlFromUniform = KL(p ‖ uniform) = log K − H; TotalVariationFromUniform = ½ Σ |pᵢ − 1/K| (0 for a
/// perfectly balanced set, 1 − 1/K when every sample is one class). ClassesCovered counts classes
/// holding at least a quarter of their fair share (1/(4K)), so a few misclassified samples do not
/// count as a mode.
/// </summary>
public sealed record ClassHistogram(int[] Counts, double[] Fractions, double Entropy, double NormalizedEntropy,
                                    double KlFromUniform, double TotalVariationFromUniform, int ClassesCovered)
{
    public static ClassHistogram Of(IReadOnlyList<int> predictions, int classes = 10)
    {
        if (classes < 2) throw new ArgumentException($"ClassHistogram.Of: need at least 2 classes, got {classes}.");
        if (predictions.Count == 0) throw new ArgumentException("ClassHistogram.Of: no predictions.");
        var counts = new int[classes];
        foreach (int c in predictions)
        {
            if ((uint)c >= (uint)classes) throw new ArgumentException($"ClassHistogram.Of: class {c} is outside 0…{classes - 1}.");
            counts[c]++;
        }
        var p = counts.Select(c => c / (double)predictions.Count).ToArray();
        double h = -p.Where(v => v > 0).Sum(v => v * Math.Log(v));
        double tv = 0.5 * p.Sum(v => Math.Abs(v - 1.0 / classes));
        int covered = p.Count(v => v >= 0.25 / classes);
        return new ClassHistogram(counts, p, h, h / Math.Log(classes), Math.Log(classes) - h, tv, covered);
    }
}

public static class ImageMetrics
{
    // ============================== FID ======================================================

    /// <summary>FID between two feature sets (N, d) and (M, d).</summary>
    public static double Fid(Tensor featuresA, Tensor featuresB) => Fid(FeatureStatistics.Of(featuresA), FeatureStatistics.Of(featuresB));

    /// <summary>FID from precomputed statistics (e.g. the test split's, computed once).</summary>
    public static double Fid(FeatureStatistics a, FeatureStatistics b) => FrechetDistance(a.Mean, a.Covariance, b.Mean, b.Covariance);

    /// <summary>‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr((Σ₁Σ₂)^{1/2}): the squared W2 distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).</summary>
    public static double FrechetDistance(double[] mu1, double[,] sigma1, double[] mu2, double[,] sigma2)
    {
        int d = mu1.Length;
        if (mu2.Length != d || sigma1.GetLength(0) != d || sigma1.GetLength(1) != d || sigma2.GetLength(0) != d || sigma2.GetLength(1) != d)
            throw new ArgumentException($"FrechetDistance: means of length {mu1.Length} and {mu2.Length} with covariances " +
                                        $"{sigma1.GetLength(0)}×{sigma1.GetLength(1)} and {sigma2.GetLength(0)}×{sigma2.GetLength(1)} do not match.");
        double meanTerm = 0, trace = 0;
        for (int k = 0; k < d; k++)
        {
            meanTerm += (mu1[k] - mu2[k]) * (mu1[k] - mu2[k]);
            trace += sigma1[k, k] + sigma2[k, k];
        }
        double fid = meanTerm + trace - 2 * SymmetricEigen.TraceSqrtProduct(sigma1, sigma2);
        // Exact arithmetic gives ≥ 0; identical inputs can round to −1e-13.
        return Math.Max(fid, 0);
    }

    // ============================== KID ======================================================

    /// <summary>
    /// KID between feature sets (M, d) and (N, d): mean and standard deviation over
    /// <paramref name="subsets"/> random subset pairs of size min(<paramref name="subsetSize"/>, M, N).
    /// </summary>
    public static KidResult Kid(Tensor featuresA, Tensor featuresB, int subsets = 50, int subsetSize = 1000, ulong seed = 0)
    {
        if (subsets < 1) throw new ArgumentException($"Kid: subsets must be ≥ 1, got {subsets}.");
        var grams = PolynomialGrams(featuresA, featuresB, "Kid");
        int size = Math.Min(subsetSize, Math.Min(grams.M, grams.N));
        if (size < 2) throw new ArgumentException($"Kid: subsets need at least 2 samples on each side, got {size}.");
        var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        var values = new double[subsets];
        for (int s = 0; s < subsets; s++)
        {
            var ia = SampleWithoutReplacement(rng, grams.M, size);
            var ib = SampleWithoutReplacement(rng, grams.N, size);
            values[s] = grams.Mmd2(ia, ib, unbiased: true);
        }
        double mean = values.Average();
        double std = subsets > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (subsets - 1)) : 0;
        return new KidResult(mean, std, subsets, size);
    }

    /// <summary>
    /// MMD² with the KID kernel (xᵀy/d + 1)³ on the whole sets: the unbiased U-statistic (diagonal
    /// terms dropped), or the biased V-statistic (diagonals kept, 1/m² normalisation).
    /// </summary>
    public static double PolynomialMmd2(Tensor featuresA, Tensor featuresB, bool unbiased = true)
    {
        var grams = PolynomialGrams(featuresA, featuresB, "PolynomialMmd2");
        return grams.Mmd2(Enumerable.Range(0, grams.M).ToArray(), Enumerable.Range(0, grams.N).ToArray(), unbiased);
    }

    sealed record Grams(double[] Kaa, double[] Kbb, double[] Kab, int M, int N)
    {
        public double Mmd2(int[] ia, int[] ib, bool unbiased)
        {
            int m = ia.Length, n = ib.Length;
            double saa = 0, sbb = 0, sab = 0;
            for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) if (i != j || !unbiased) saa += Kaa[ia[i] * M + ia[j]];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j || !unbiased) sbb += Kbb[ib[i] * N + ib[j]];
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) sab += Kab[ia[i] * N + ib[j]];
            return unbiased
                ? saa / (m * (m - 1.0)) + sbb / (n * (n - 1.0)) - 2 * sab / ((double)m * n)
                : saa / ((double)m * m) + sbb / ((double)n * n) - 2 * sab / ((double)m * n);
        }
    }

    static Grams PolynomialGrams(Tensor a, Tensor b, string op)
    {
        var (_, m, d) = Rows(a, op, minRows: 2);
        var (_, n, d2) = Rows(b, op, minRows: 2);
        if (d != d2) throw new ArgumentException($"{op}: feature sets {a.ShapeStr} and {b.ShapeStr} have different widths.");
        double[] Kernel(Tensor x, Tensor y)
        {
            float[] dots;
            using (var scope = TensorScope.Begin())
            using (Autograd.NoGrad())
                dots = x.Contiguous().MatMul(y.Contiguous().T).ToArray();   // (rows x, rows y)
            var k = new double[dots.Length];
            for (int i = 0; i < dots.Length; i++) { double u = dots[i] / (double)d + 1; k[i] = u * u * u; }
            return k;
        }
        return new Grams(Kernel(a, a), Kernel(b, b), Kernel(a, b), m, n);
    }

    static int[] SampleWithoutReplacement(Random rng, int n, int k)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < k; i++) { int j = rng.Next(i, n); (p[i], p[j]) = (p[j], p[i]); }
        return p[..k];
    }

    // ============================== precision and recall =====================================

    /// <summary>Improved precision and recall of <paramref name="generated"/> (M, d) against <paramref name="real"/> (N, d) with k-NN balls.</summary>
    public static PrecisionRecall PrecisionRecall(Tensor real, Tensor generated, int k = 3)
    {
        var (_, n, d) = Rows(real, "PrecisionRecall", minRows: k + 1);
        var (_, m, d2) = Rows(generated, "PrecisionRecall", minRows: k + 1);
        if (d != d2) throw new ArgumentException($"PrecisionRecall: feature sets {real.ShapeStr} and {generated.ShapeStr} have different widths.");
        if (k < 1) throw new ArgumentException($"PrecisionRecall: k must be ≥ 1, got {k}.");
        var realRadii = KnnRadii(real, k);
        var genRadii = KnnRadii(generated, k);
        var (precision, ballsHit, realBallsCovered) = Inside(generated, real, realRadii);
        var (recall, _, _) = Inside(real, generated, genRadii);
        return new PrecisionRecall(precision, recall, k, ballsHit / ((double)k * m), realBallsCovered / (double)n);
    }

    /// <summary>Squared distance from each row of x to its k-th nearest other row of x.</summary>
    internal static double[] KnnRadii(Tensor x, int k)
    {
        int n = x.Shape[0];
        var radii = new double[n];
        var best = new double[k];
        ForEachDistanceBlock(x, x, (start, rows, dist) =>
        {
            for (int r = 0; r < rows; r++)
            {
                int i = start + r;
                best.AsSpan().Fill(double.PositiveInfinity);   // ascending k smallest so far
                for (int j = 0; j < n; j++)
                {
                    if (j == i) continue;
                    double v = dist[r * n + j];
                    if (v >= best[k - 1]) continue;
                    int at = k - 1;
                    while (at > 0 && best[at - 1] > v) { best[at] = best[at - 1]; at--; }
                    best[at] = v;
                }
                radii[i] = best[k - 1];
            }
        });
        return radii;
    }

    /// <summary>
    /// Against balls (radius² <paramref name="radii"/>) around the rows of <paramref name="manifold"/>:
    /// the fraction of query rows inside at least one ball, the total number of (query, ball)
    /// containments, and how many balls contain at least one query row.
    /// </summary>
    internal static (double Fraction, long Containments, int BallsHit) Inside(Tensor query, Tensor manifold, double[] radii)
    {
        int n = manifold.Shape[0], inside = 0;
        long containments = 0;
        var hit = new bool[n];
        ForEachDistanceBlock(query, manifold, (start, rows, dist) =>
        {
            for (int r = 0; r < rows; r++)
            {
                int count = 0;
                for (int j = 0; j < n; j++)
                    if (dist[r * n + j] <= radii[j]) { count++; hit[j] = true; }
                if (count > 0) inside++;
                containments += count;
            }
        });
        return (inside / (double)query.Shape[0], containments, hit.Count(h => h));
    }

    /// <summary>
    /// Squared distances ‖aᵢ − bⱼ‖² = ‖aᵢ‖² + ‖bⱼ‖² − 2aᵢ·bⱼ (GEMM for the dot products, clamped at 0),
    /// handed over 512 rows of a at a time so memory stays at 512·|b| values.
    /// </summary>
    static void ForEachDistanceBlock(Tensor a, Tensor b, Action<int, int, double[]> visit)
    {
        const int Block = 512;
        int na = a.Shape[0], nb = b.Shape[0], d = a.Shape[1];
        var fa = a.Contiguous().ToArray();
        var fb = b.Contiguous().ToArray();
        double SqNorm(float[] f, int i) { double s = 0; for (int k = 0; k < d; k++) s += f[i * d + k] * (double)f[i * d + k]; return s; }
        var normB = Enumerable.Range(0, nb).Select(j => SqNorm(fb, j)).ToArray();
        var dist = new double[Math.Min(Block, na) * nb];
        for (int start = 0; start < na; start += Block)
        {
            int rows = Math.Min(Block, na - start);
            float[] dots;
            using (var scope = TensorScope.Begin())
            using (Autograd.NoGrad())
                dots = a.Narrow(0, start, rows).Contiguous().MatMul(b.Contiguous().T).ToArray();
            for (int r = 0; r < rows; r++)
            {
                double na2 = SqNorm(fa, start + r);
                for (int j = 0; j < nb; j++) dist[r * nb + j] = Math.Max(na2 + normB[j] - 2.0 * dots[r * nb + j], 0);
            }
            visit(start, rows, dist);
        }
    }

    // ============================== class statistics =========================================

    /// <summary>Fraction of samples whose predicted class is the class they were generated for.</summary>
    public static double ClassifierAccuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> intended)
    {
        if (predicted.Count != intended.Count || predicted.Count == 0)
            throw new ArgumentException($"ClassifierAccuracy: {predicted.Count} predictions for {intended.Count} intended labels; need equal, non-zero counts.");
        int hits = 0;
        for (int i = 0; i < predicted.Count; i++) if (predicted[i] == intended[i]) hits++;
        return hits / (double)predicted.Count;
    }

    // ============================== helpers ==================================================

    /// <summary>The rows of a (N, d) Float32 tensor, checked, as a flat float array.</summary>
    internal static (float[] Data, int N, int D) Rows(Tensor t, string op, int minRows)
    {
        if (t.DType != DType.Float32 || t.Rank != 2 || t.Shape[0] < minRows || t.Shape[1] < 1)
            throw new ArgumentException($"{op}: expected a Float32 feature tensor (N, d) with N ≥ {minRows}, got {t.DType} {t.ShapeStr}{t.NameSuffix}.");
        return (t.Contiguous().ToArray(), t.Shape[0], t.Shape[1]);
    }
}
