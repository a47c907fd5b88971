// SymmetricEigen — eigenvalues and eigenvectors of a real symmetric matrix in float64, by the
// cyclic Jacobi method (Jacobi, 1846; Golub & Van Loan, "Matrix Computations", 4th ed., §8.5),
// and the functions of symmetric PSD matrices FID needs: A^{1/2} and Tr((A·B)^{1/2}).
//
// Why Jacobi and not a NuGet linear-algebra package: FID's matrices are the feature covariances
// (128×128 for MnistClassifier), where a sweep costs ~n³·6 flops (≈ 13 M) and 6–10 sweeps converge
// to machine precision: a few milliseconds. Jacobi is ~80 readable lines, needs no dependency, and
// is the most accurate symmetric eigensolver there is (it finds small eigenvalues to high relative
// accuracy, which matters for the rank-deficient covariances of collapsed generators). For
// n ≳ 500 a Householder tridiagonalisation + implicit QL would be ~5× faster; not needed here.
//
// Each rotation J(p, q, θ) zeros A[p,q]: with θ = (A_qq − A_pp) / (2·A_pq),
// t = sgn(θ) / (|θ| + √(θ² + 1)) (the smaller root, |t| ≤ 1, for stability), c = 1/√(t²+1), s = t·c,
//   A ← Jᵀ A J,  V ← V J.
// A sweep visits every (p < q); it stops when the off-diagonal Frobenius norm is below
// 1e-15 × the matrix's Frobenius norm (or after 100 sweeps, far more than it ever needs).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.ImageMetrics
namespace Denoise.Metrics;

public static class SymmetricEigen
{
    /// <summary>
    /// Eigen-decomposition A = V·diag(values)·Vᵀ of a symmetric n×n matrix (only symmetric input is
    /// meaningful; the upper and lower triangles must agree). Values ascend; column j of V is the
    /// unit eigenvector of values[j].
    /// </summary>
    public static (double[] Values, double[,] Vectors) Decompose(double[,] matrix)
    {
        int n = CheckSquare(matrix, "SymmetricEigen.Decompose");
        var a = (double[,])matrix.Clone();
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;

        double total = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) total += a[i, j] * a[i, j];
        double tolerance = 1e-30 * total;   // (1e-15 · ‖A‖_F)²

        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++) for (int q = p + 1; q < n; q++) off += 2 * a[p, q] * a[p, q];
            if (off <= tolerance || off == 0) break;

            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p, q];
                    if (apq == 0) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * apq);
                    double t = Math.Sign(theta) == 0 ? 1 : Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    // Columns p, q (A·J), then rows p, q (Jᵀ·…).
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    a[p, q] = a[q, p] = 0;   // exactly, rather than rounding noise
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }

        // Sort ascending, carrying the eigenvector columns along.
        var order = Enumerable.Range(0, n).OrderBy(i => a[i, i]).ToArray();
        var values = new double[n];
        var vectors = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            values[j] = a[order[j], order[j]];
            for (int i = 0; i < n; i++) vectors[i, j] = v[i, order[j]];
        }
        return (values, vectors);
    }

    /// <summary>
    /// The PSD square root S = V·diag(√max(λ, 0))·Vᵀ of a symmetric PSD matrix, so S·S ≈ A.
    /// Eigenvalues below zero are rounding noise of a PSD matrix (a covariance) and are clipped.
    /// </summary>
    public static double[,] SqrtPsd(double[,] matrix)
    {
        var (values, vectors) = Decompose(matrix);
        return Reconstruct(values.Select(l => Math.Sqrt(Math.Max(l, 0))).ToArray(), vectors);
    }

    /// <summary>
    /// Tr((A·B)^{1/2}) for symmetric PSD A and B, as Σ √λᵢ(A^{1/2}·B·A^{1/2}). A·B is not symmetric,
    /// but it is similar to the symmetric PSD A^{1/2}·B·A^{1/2} (multiply by A^{1/2} and its inverse;
    /// by continuity also when A is singular), so both have the same eigenvalues and the trace of the
    /// square root is the sum of their square roots — no non-symmetric eigensolver, no complex numbers.
    /// </summary>
    public static double TraceSqrtProduct(double[,] a, double[,] b)
    {
        int n = CheckSquare(a, "SymmetricEigen.TraceSqrtProduct");
        if (CheckSquare(b, "SymmetricEigen.TraceSqrtProduct") != n)
            throw new ArgumentException($"SymmetricEigen.TraceSqrtProduct: A is {n}×{n} but B is {b.GetLength(0)}×{b.GetLength(1)}.");
        var s = SqrtPsd(a);
        var m = Multiply(Multiply(s, b), s);
        // Symmetrise: rounding leaves M a hair off symmetric, and Jacobi reads both triangles.
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) m[i, j] = m[j, i] = 0.5 * (m[i, j] + m[j, i]);
        var (values, _) = Decompose(m);
        return values.Sum(l => Math.Sqrt(Math.Max(l, 0)));
    }

    /// <summary>V·diag(d)·Vᵀ.</summary>
    public static double[,] Reconstruct(double[] d, double[,] v)
    {
        int n = d.Length;
        var r = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) sum += v[i, k] * d[k] * v[j, k];
                r[i, j] = r[j, i] = sum;
            }
        return r;
    }

    /// <summary>Plain matrix product of two double matrices (i-k-j order: B's rows stream).</summary>
    public static double[,] Multiply(double[,] a, double[,] b)
    {
        int n = a.GetLength(0), kk = a.GetLength(1), m = b.GetLength(1);
        if (b.GetLength(0) != kk)
            throw new ArgumentException($"SymmetricEigen.Multiply: cannot multiply {n}×{kk} by {b.GetLength(0)}×{m}.");
        var c = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < kk; k++)
            {
                double aik = a[i, k];
                if (aik == 0) continue;
                for (int j = 0; j < m; j++) c[i, j] += aik * b[k, j];
            }
        return c;
    }

    static int CheckSquare(double[,] m, string op)
    {
        if (m.GetLength(0) != m.GetLength(1) || m.GetLength(0) == 0)
            throw new ArgumentException($"{op}: expected a non-empty square matrix, got {m.GetLength(0)}×{m.GetLength(1)}.");
        return m.GetLength(0);
    }
}
