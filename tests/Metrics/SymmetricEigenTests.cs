// SymmetricEigen (Jacobi, float64): A·V = V·Λ with orthonormal V on random symmetric matrices,
// SqrtPsd(A)² ≈ A on random SPD and rank-deficient PSD matrices, and Tr((AB)^{1/2}) against the
// 2×2 closed form for non-commuting A, B.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.SymmetricEigen
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class SymmetricEigenTests
{
    internal static double[,] RandomMatrix(Random rng, int rows, int cols)
    {
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = rng.NextDouble() * 2 - 1;
        return m;
    }

    internal static double[,] Transpose(double[,] a)
    {
        var t = new double[a.GetLength(1), a.GetLength(0)];
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) t[j, i] = a[i, j];
        return t;
    }

    /// <summary>G·Gᵀ (+ ridge·I): SPD for ridge > 0, PSD of rank = cols of G otherwise.</summary>
    internal static double[,] RandomPsd(Random rng, int n, int rank, double ridge)
    {
        var g = RandomMatrix(rng, n, rank);
        var a = SymmetricEigen.Multiply(g, Transpose(g));
        for (int i = 0; i < n; i++) a[i, i] += ridge;
        return a;
    }

    static double MaxAbsDiff(double[,] a, double[,] b)
    {
        double m = 0;
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) m = Math.Max(m, Math.Abs(a[i, j] - b[i, j]));
        return m;
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(7)]
    [TestCase(31)]
    public void Decompose_RandomSymmetric_GivesOrthonormalEigenvectors(int n)
    {
        var rng = new Random(n);
        var g = RandomMatrix(rng, n, n);
        var a = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i, j] = g[i, j] + g[j, i];
        var (values, v) = SymmetricEigen.Decompose(a);
        Assert.That(values, Is.Ordered);
        // A·V = V·Λ and VᵀV = I to ~1e-13 (entries are O(1); Jacobi is backward stable).
        var av = SymmetricEigen.Multiply(a, v);
        var vl = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) vl[i, j] = v[i, j] * values[j];
        Assert.That(MaxAbsDiff(av, vl), Is.LessThan(1e-12));
        var eye = new double[n, n];
        for (int i = 0; i < n; i++) eye[i, i] = 1;
        Assert.That(MaxAbsDiff(SymmetricEigen.Multiply(Transpose(v), v), eye), Is.LessThan(1e-12));
    }

    [TestCase(5, 5, 0.1)]
    [TestCase(40, 40, 0.01)]
    [TestCase(128, 128, 0.001)]
    [TestCase(30, 6, 0.0)]   // rank 6 of 30: a collapsed generator's covariance
    public void SqrtPsd_SquaredGivesBackTheMatrix(int n, int rank, double ridge)
    {
        var a = RandomPsd(new Random(n + rank), n, rank, ridge);
        var s = SymmetricEigen.SqrtPsd(a);
        double scale = 0;
        for (int i = 0; i < n; i++) scale = Math.Max(scale, a[i, i]);
        Assert.That(MaxAbsDiff(SymmetricEigen.Multiply(s, s), a), Is.LessThan(1e-11 * scale));
        Assert.That(MaxAbsDiff(s, Transpose(s)), Is.LessThan(1e-12 * Math.Sqrt(scale)), "the PSD root is symmetric");
        var (values, _) = SymmetricEigen.Decompose(s);
        Assert.That(values[0], Is.GreaterThan(-1e-7 * Math.Sqrt(scale)), "and positive semi-definite");
    }

    [Test]
    public void TraceSqrtProduct_NonCommuting2x2_MatchesClosedForm()
    {
        // For 2×2 M with positive eigenvalues λ₁, λ₂: Tr √M = √λ₁ + √λ₂ = √(Tr M + 2√det M).
        double[,] a = { { 2.0, 0.7 }, { 0.7, 1.0 } }, b = { { 0.5, -0.3 }, { -0.3, 3.0 } };
        var ab = SymmetricEigen.Multiply(a, b);
        double tr = ab[0, 0] + ab[1, 1], det = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) * (b[0, 0] * b[1, 1] - b[0, 1] * b[1, 0]);
        Assert.That(SymmetricEigen.TraceSqrtProduct(a, b), Is.EqualTo(Math.Sqrt(tr + 2 * Math.Sqrt(det))).Within(1e-13));
    }

    [Test]
    public void Decompose_NonSquare_Throws_NamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(new double[2, 3]))!;
        Assert.That(e.Message, Does.Contain("2×3"));
    }
}
