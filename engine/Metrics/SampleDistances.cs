// Distances between two sets of samples, for judging low-dimensional generative models.
//
// Sliced Wasserstein-2 (Rabin et al., 2011; Bonneel et al., 2015): average over random unit
// directions θ of the 1-D Wasserstein-2 distance between the projections ⟨x, θ⟩, which for equal
// sample counts is the RMS difference of the sorted projections. Reported as √(mean W2²).
//
// MMD² with a Gaussian (RBF) kernel k(x, y) = exp(−‖x − y‖²/(2σ²)), averaged over several
// bandwidths so that no single scale decides (Gretton et al., 2012). The unbiased U-statistic drops
// the i = j terms of the within-set sums (it can be slightly negative when the sets match); the
// biased V-statistic keeps them (always ≥ 0, but inflated by ~(2 − 2·E k)/n at small n).
// ImageMetrics.Kid is the same estimator with KID's polynomial kernel.
namespace Denoise.Metrics;

public static class SampleDistances
{
    /// <summary>Sliced W2 between two (n, d) sample sets of equal size.</summary>
    public static double SlicedWasserstein(Tensor a, Tensor b, int projections = 128, ulong seed = 0)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[1] || a.Shape[0] != b.Shape[0])
            throw new ArgumentException($"SlicedWasserstein: expected two (n, d) tensors of equal shape, got {a.ShapeStr} and {b.ShapeStr}.");
        int n = a.Shape[0], d = a.Shape[1];
        var x = a.ToArray(); var y = b.ToArray();
        var dirs = Tensor.Randn([projections, d], new Generator(seed)).ToArray();
        var px = new double[n]; var py = new double[n];
        double total = 0;
        for (int p = 0; p < projections; p++)
        {
            double norm = 0;
            for (int k = 0; k < d; k++) norm += dirs[p * d + k] * (double)dirs[p * d + k];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++)
            {
                double sx = 0, sy = 0;
                for (int k = 0; k < d; k++) { sx += x[i * d + k] * dirs[p * d + k]; sy += y[i * d + k] * dirs[p * d + k]; }
                px[i] = sx / norm; py[i] = sy / norm;
            }
            Array.Sort(px); Array.Sort(py);
            double w = 0;
            for (int i = 0; i < n; i++) w += (px[i] - py[i]) * (px[i] - py[i]);
            total += w / n;
        }
        return Math.Sqrt(total / projections);
    }

    /// <summary>Unbiased MMD² averaged over RBF bandwidths σ ∈ <paramref name="bandwidths"/>.</summary>
    public static double Mmd2(Tensor a, Tensor b, params double[] bandwidths) => Mmd2(a, b, unbiased: true, bandwidths);

    /// <summary>MMD² averaged over RBF bandwidths: the unbiased U-statistic or the biased V-statistic.</summary>
    public static double Mmd2(Tensor a, Tensor b, bool unbiased, params double[] bandwidths)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[1])
            throw new ArgumentException($"Mmd2: expected (n, d) and (m, d) tensors, got {a.ShapeStr} and {b.ShapeStr}.");
        if (bandwidths.Length == 0) bandwidths = [0.1, 0.2, 0.5, 1.0, 2.0];
        int n = a.Shape[0], m = b.Shape[0], d = a.Shape[1];
        var x = a.ToArray(); var y = b.ToArray();
        double Sq(float[] p, int i, float[] q, int j)
        {
            double s = 0;
            for (int k = 0; k < d; k++) { double t = p[i * d + k] - q[j * d + k]; s += t * t; }
            return s;
        }
        double result = 0;
        foreach (var sigma in bandwidths)
        {
            double g = -1 / (2 * sigma * sigma), xx = 0, yy = 0, xy = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) xx += Math.Exp(g * Sq(x, i, x, j));
            for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) if (i != j) yy += Math.Exp(g * Sq(y, i, y, j));
            for (int i = 0; i < n; i++) for (int j = 0; j < m; j++) xy += Math.Exp(g * Sq(x, i, y, j));
            result += unbiased
                ? xx / (n * (n - 1.0)) + yy / (m * (m - 1.0)) - 2 * xy / ((double)n * m)
                : (xx + n) / ((double)n * n) + (yy + m) / ((double)m * m) - 2 * xy / ((double)n * m);   // k(x, x) = 1
        }
        return result / bandwidths.Length;
    }
}
