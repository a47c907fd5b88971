// Tests for engine/Ops/Linalg.cs: Inverse, SlogDet, Det on single matrices and batches.
// Forward: A⁻¹·A ≈ I, and determinants against cofactor expansion in double written here.
// Gradients by finite differences at well-conditioned matrices (first and second order).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~LinalgTests"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class LinalgTests
{
    /// <summary>Random matrices pushed away from singularity: entries in [−1, 1] plus 2·I (and −2·I on one diagonal entry, for a negative determinant sometimes).</summary>
    static Tensor WellConditioned(int seed, int n, int batch = 0, bool negate = false)
    {
        var shape = batch == 0 ? new[] { n, n } : new[] { batch, n, n };
        var a = GradCheck.Rand(seed, shape).ToArray();
        for (int b = 0; b < Math.Max(batch, 1); b++)
            for (int i = 0; i < n; i++) a[b * n * n + i * n + i] += negate && i == 0 ? -2.5f : 2.5f;
        return Tensor.FromArray(a, shape);
    }

    static double Cofactor(double[,] m)
    {
        int n = m.GetLength(0);
        if (n == 1) return m[0, 0];
        double det = 0;
        for (int j = 0; j < n; j++)
        {
            var minor = new double[n - 1, n - 1];
            for (int r = 1; r < n; r++)
                for (int c = 0, cc = 0; c < n; c++) if (c != j) minor[r - 1, cc++] = m[r, c];
            det += (j % 2 == 0 ? 1 : -1) * m[0, j] * Cofactor(minor);
        }
        return det;
    }

    static double[,] Matrix(Tensor t, int b, int n)
    {
        var m = new double[n, n];
        var a = t.ToArray();
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i, j] = a[b * n * n + i * n + j];
        return m;
    }

    [TestCase(1)] [TestCase(3)] [TestCase(5)] [TestCase(8)]
    public void Inverse_TimesMatrix_IsIdentity(int n)
    {
        var a = WellConditioned(1, n, negate: true);
        var inv = a.Inverse();
        foreach (var prod in new[] { inv.MatMul(a), a.MatMul(inv) })
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++)
                Assert.That(prod[i, j], Is.EqualTo(i == j ? 1f : 0f).Within(1e-5), $"({i},{j})");
    }

    [Test]
    public void Inverse_Batched_MatchesPerMatrixInverse()
    {
        var a = WellConditioned(2, 3, batch: 4);
        var inv = a.Inverse();
        Assert.That(inv.Shape.ToArray(), Is.EqualTo(new[] { 4, 3, 3 }));
        for (int b = 0; b < 4; b++)
            Assert.That(inv.Select(0, b).ToArray(), Is.EqualTo(a.Select(0, b).Contiguous().Inverse().ToArray()));
        // A transposed (non-contiguous) view inverts to the transpose of the inverse.
        Assert.That(a.T.Inverse().ToArray(), Is.EqualTo(inv.T.Contiguous().ToArray()).Within(1e-5f));
    }

    [Test]
    public void SlogDet_3x3_MatchesCofactorExpansion()
    {
        for (int seed = 0; seed < 6; seed++)
        {
            var a = GradCheck.Rand(seed, -2f, 2f, 3, 3);
            var (sign, logAbs) = a.SlogDet();
            double det = Cofactor(Matrix(a, 0, 3));
            Assert.That(sign.Rank, Is.EqualTo(0));
            Assert.That(sign.Item(), Is.EqualTo(Math.Sign(det)), $"seed {seed}");
            Assert.That(logAbs.Item(), Is.EqualTo(Math.Log(Math.Abs(det))).Within(1e-5), $"seed {seed}");
            Assert.That(a.Det().Item(), Is.EqualTo(det).Within(1e-5 * Math.Max(1, Math.Abs(det))), $"seed {seed}");
        }
    }

    [Test]
    public void SlogDet_Batched_MatchesCofactorExpansion_AndSingularGivesSignZero()
    {
        var a = WellConditioned(3, 4, batch: 3, negate: true);
        var (sign, logAbs) = a.SlogDet();
        Assert.That(sign.Shape.ToArray(), Is.EqualTo(new[] { 3 }));
        for (int b = 0; b < 3; b++)
        {
            double det = Cofactor(Matrix(a, b, 4));
            Assert.That(sign[b], Is.EqualTo(Math.Sign(det)));
            Assert.That(logAbs[b], Is.EqualTo(Math.Log(Math.Abs(det))).Within(1e-5));
        }
        var singular = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f }, 3, 3);
        var (s0, l0) = singular.SlogDet();
        Assert.That(s0.Item(), Is.EqualTo(0f));
        Assert.That(l0.Item(), Is.EqualTo(float.NegativeInfinity));
        Assert.That(Tensor.Zeros(2, 2).Det().Item(), Is.EqualTo(0f));
    }

    [Test]
    public void Inverse_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].Inverse(), [WellConditioned(4, 3, negate: true)], what: "inverse");
        GradCheck.Check(xs => xs[0].Inverse(), [WellConditioned(5, 2, batch: 2)], what: "batched inverse");
        GradCheck.CheckSecondOrder(xs => xs[0].Inverse(), [WellConditioned(6, 3)], what: "inverse");
    }

    [Test]
    public void SlogDet_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].SlogDet().LogAbsDet, [WellConditioned(7, 3, negate: true)], what: "logabsdet");
        GradCheck.Check(xs => xs[0].SlogDet().LogAbsDet, [WellConditioned(8, 3, batch: 2)], what: "batched logabsdet");
        GradCheck.Check(xs => xs[0].Det(), [WellConditioned(9, 3, negate: true)], what: "det");
        GradCheck.CheckSecondOrder(xs => xs[0].SlogDet().LogAbsDet, [WellConditioned(10, 3, negate: true)], what: "logabsdet");
    }

    [Test]
    public void BadInputs_Throw_NamingShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => GradCheck.Rand(1, 2, 3).Inverse());
        Assert.That(ex!.Message, Does.Contain("inverse").And.Contain("(2, 3)").And.Contain("square"));
        ex = Assert.Throws<ArgumentException>(() => GradCheck.Rand(1, 4).SlogDet());
        Assert.That(ex!.Message, Does.Contain("slogdet").And.Contain("(4,)"));
        var singular = Tensor.FromArray(new[] { 1f, 2f, 2f, 4f }, 1, 2, 2);
        var ie = Assert.Throws<InvalidOperationException>(() => singular.Inverse());
        Assert.That(ie!.Message, Does.Contain("singular").And.Contain("(1, 2, 2)"));
    }
}
