using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class MatMulTests
{
    static float[] Reference(float[] a, float[] b, int M, int K, int N)
    {
        var c = new float[M * N];
        for (int i = 0; i < M; i++) for (int j = 0; j < N; j++)
        {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
            c[i * N + j] = (float)s;
        }
        return c;
    }

    [TestCase(1, 1, 1)] [TestCase(7, 13, 5)] [TestCase(31, 65, 17)] [TestCase(64, 3, 129)]
    public void MatMul_MatchesDoubleReference(int M, int K, int N)
    {
        var a = GradCheck.Rand(1, M, K); var b = GradCheck.Rand(2, K, N);
        var c = a.MatMul(b).ToArray();
        var r = Reference(a.ToArray(), b.ToArray(), M, K, N);
        // float32 dot products of length K with |terms| ≤ 1: error ≲ K·2⁻²⁴ per term sum.
        for (int i = 0; i < c.Length; i++) Assert.That(c[i], Is.EqualTo(r[i]).Within(1e-6 * K + 1e-6));
    }

    [Test]
    public void MatMul_TransposedViewsAndBatchBroadcast_MatchContiguousCopies()
    {
        var a = GradCheck.Rand(3, 2, 1, 5, 4);   // batch (2,1)
        var b = GradCheck.Rand(4, 3, 6, 5);      // batch (3) → broadcast to (2,3)
        var viaViews = a.T.MatMul(b.T);          // (2,3,4,6) from transposed views
        var viaCopies = a.T.Contiguous().MatMul(b.T.Contiguous());
        Assert.That(viaViews.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 4, 6 }));
        Assert.That(viaViews.ToArray(), Is.EqualTo(viaCopies.ToArray()).Within(1e-6f));
        var v = GradCheck.Rand(5, 4);
        Assert.That(a.MatMul(v).Shape.ToArray(), Is.EqualTo(new[] { 2, 1, 5 }));
        Assert.That(v.MatMul(v).Rank, Is.EqualTo(0));
        var ex = Assert.Throws<ArgumentException>(() => a.MatMul(GradCheck.Rand(1, 3, 2)));
        Assert.That(ex!.Message, Does.Contain("inner dimensions"));
    }

    [Test]
    public void MatMul_Gradients_FirstAndSecondOrder()
    {
        GradCheck.Check(xs => xs[0].MatMul(xs[1]), [GradCheck.Rand(1, 3, 4), GradCheck.Rand(2, 4, 5)], what: "matmul");
        GradCheck.Check(xs => xs[0].MatMul(xs[1].T), [GradCheck.Rand(1, 2, 3, 4), GradCheck.Rand(2, 5, 4)], what: "batched matmul, broadcast weight");
        GradCheck.Check(xs => xs[0].MatMul(xs[1]), [GradCheck.Rand(1, 4), GradCheck.Rand(2, 4, 3)], what: "vector-matrix");
        GradCheck.CheckSecondOrder(xs => xs[0].MatMul(xs[1]).Tanh(), [GradCheck.Rand(1, 2, 3), GradCheck.Rand(2, 3, 2)], what: "matmul");
    }
}
