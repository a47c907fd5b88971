// Tests for engine/Ops/Indexing.cs: gather / scatter_add, index_select / index_add, one_hot.
// Forward results are compared with plain loops written here from PyTorch's documented formulas;
// gradients with finite differences (first and second order); bad inputs with their messages.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~IndexingTests"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class IndexingTests
{
    static Tensor RandIndex(int seed, int hi, params int[] shape)
    {
        var r = new Random(seed);
        var data = new int[ShapeUtil.Numel(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = r.Next(hi);
        return Tensor.FromArray(data, shape);
    }

    // ───────────── gather / scatter_add ─────────────

    [TestCase(0)] [TestCase(1)] [TestCase(2)] [TestCase(-1)]
    public void Gather_Forward_MatchesLoopReference(int dim)
    {
        var x = GradCheck.Rand(1, 4, 5, 6);
        int d = dim < 0 ? dim + 3 : dim;
        // The index may be smaller than x in every dimension; along dim it may be longer.
        var ishape = new[] { 3, 4, 5 }; ishape[d] = 7;
        var index = RandIndex(2, x.Shape[d], ishape);
        var y = x.Gather(dim, index);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(ishape));
        for (int i = 0; i < ishape[0]; i++)
            for (int j = 0; j < ishape[1]; j++)
                for (int k = 0; k < ishape[2]; k++)
                {
                    var at = new[] { i, j, k };
                    at[d] = (int)index[i, j, k];
                    Assert.That(y[i, j, k], Is.EqualTo(x[at]), $"position ({i},{j},{k})");
                }
    }

    [Test]
    public void Gather_OnTransposedView_MatchesContiguousCopy()
    {
        var x = GradCheck.Rand(3, 5, 4).T;            // (4, 5), non-contiguous
        var index = RandIndex(4, 5, 4, 3);
        Assert.That(x.Gather(1, index).ToArray(), Is.EqualTo(x.Contiguous().Gather(1, index).ToArray()));
    }

    [TestCase(0)] [TestCase(1)]
    public void ScatterAdd_Forward_MatchesLoopReference(int dim)
    {
        var self = GradCheck.Rand(5, 4, 5);
        var src = GradCheck.Rand(6, 6, 6);              // larger than the index: extra entries unused
        var ishape = dim == 0 ? new[] { 6, 3 } : new[] { 3, 6 };
        var index = RandIndex(7, self.Shape[dim], ishape);  // 6 draws from ≤ 5 values: repeats guaranteed
        var y = self.ScatterAdd(dim, index, src);

        var expected = new double[4, 5];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 5; j++) expected[i, j] = self[i, j];
        for (int i = 0; i < ishape[0]; i++)
            for (int j = 0; j < ishape[1]; j++)
            {
                int t = (int)index[i, j];
                if (dim == 0) expected[t, j] += src[i, j]; else expected[i, t] += src[i, j];
            }
        for (int i = 0; i < 4; i++) for (int j = 0; j < 5; j++)
            Assert.That(y[i, j], Is.EqualTo(expected[i, j]).Within(1e-5), $"({i},{j})");
        Assert.That(self[0, 0], Is.EqualTo(GradCheck.Rand(5, 4, 5)[0, 0]), "scatter_add must not modify its input");
    }

    [Test]
    public void GatherAndScatterAdd_Backward_MatchFiniteDifferences()
    {
        var index = RandIndex(8, 4, 3, 5);
        GradCheck.Check(xs => xs[0].Gather(0, index), [GradCheck.Rand(1, 4, 5)], what: "gather dim 0");
        GradCheck.Check(xs => xs[0].Gather(1, RandIndex(9, 5, 4, 7)), [GradCheck.Rand(1, 4, 5)], what: "gather dim 1");
        GradCheck.Check(xs => xs[0].ScatterAdd(0, index, xs[1]), [GradCheck.Rand(2, 4, 5), GradCheck.Rand(3, 3, 5)], what: "scatter_add");
        GradCheck.Check(xs => xs[0].ScatterAdd(0, index, xs[1]), [GradCheck.Rand(2, 4, 6), GradCheck.Rand(3, 5, 5)], what: "scatter_add, src larger than index");
    }

    [Test]
    public void GatherAndScatterAdd_SecondOrder_MatchesFiniteDifferences()
    {
        var index = RandIndex(8, 4, 3, 5);
        // Nonlinear outside so the gradient depends on x through the adjoint op.
        GradCheck.CheckSecondOrder(xs => xs[0].Gather(0, index).Tanh(), [GradCheck.Rand(1, 4, 5)], what: "gather");
        GradCheck.CheckSecondOrder(xs => xs[0].ScatterAdd(0, index, xs[1]).Tanh(), [GradCheck.Rand(2, 4, 5), GradCheck.Rand(3, 3, 5)], what: "scatter_add");
    }

    // ───────────── index_select / index_add ─────────────

    [TestCase(0)] [TestCase(1)] [TestCase(2)]
    public void IndexSelect_Forward_MatchesLoopReference(int dim)
    {
        var x = GradCheck.Rand(10, 3, 4, 5);
        var index = Tensor.FromArray(new[] { 2, 0, 2, 1 }, 4);   // repeats and reordering
        var y = x.IndexSelect(dim, index);
        var expectShape = new[] { 3, 4, 5 }; expectShape[dim] = 4;
        Assert.That(y.Shape.ToArray(), Is.EqualTo(expectShape));
        for (int i = 0; i < expectShape[0]; i++)
            for (int j = 0; j < expectShape[1]; j++)
                for (int k = 0; k < expectShape[2]; k++)
                {
                    var at = new[] { i, j, k };
                    at[dim] = (int)index[at[dim]];
                    Assert.That(y[i, j, k], Is.EqualTo(x[at]));
                }
        var xt = x.Permute(2, 0, 1);  // a non-contiguous view takes the copy path
        Assert.That(xt.IndexSelect(1, index).ToArray(), Is.EqualTo(xt.Contiguous().IndexSelect(1, index).ToArray()));
    }

    [TestCase(0)] [TestCase(1)] [TestCase(2)]
    public void IndexAdd_Forward_MatchesLoopReference(int dim)
    {
        var self = GradCheck.Rand(11, 3, 4, 5);
        var index = Tensor.FromArray(new[] { 1, 0, 1 }, 3);
        var sshape = new[] { 3, 4, 5 }; sshape[dim] = 3;
        var source = GradCheck.Rand(12, sshape);
        var y = self.IndexAdd(dim, index, source);
        var expected = self.ToArray().Select(v => (double)v).ToArray();
        for (int i = 0; i < sshape[0]; i++)
            for (int j = 0; j < sshape[1]; j++)
                for (int k = 0; k < sshape[2]; k++)
                {
                    var at = new[] { i, j, k };
                    at[dim] = (int)index[at[dim]];
                    expected[(at[0] * 4 + at[1]) * 5 + at[2]] += source[i, j, k];
                }
        var got = y.ToArray();
        for (int p = 0; p < got.Length; p++) Assert.That(got[p], Is.EqualTo(expected[p]).Within(1e-5), $"flat {p}");
    }

    [Test]
    public void IndexSelectAndIndexAdd_Backward_MatchFiniteDifferences()
    {
        var index = Tensor.FromArray(new[] { 2, 0, 2 }, 3);
        GradCheck.Check(xs => xs[0].IndexSelect(0, index), [GradCheck.Rand(1, 3, 4)], what: "index_select dim 0");
        GradCheck.Check(xs => xs[0].IndexSelect(1, index), [GradCheck.Rand(1, 2, 3)], what: "index_select dim 1 (inner 1)");
        GradCheck.Check(xs => xs[0].IndexAdd(1, index, xs[1]), [GradCheck.Rand(2, 2, 4, 3), GradCheck.Rand(3, 2, 3, 3)], what: "index_add");
    }

    [Test]
    public void IndexSelectAndIndexAdd_SecondOrder_MatchesFiniteDifferences()
    {
        var index = Tensor.FromArray(new[] { 2, 0, 2 }, 3);
        GradCheck.CheckSecondOrder(xs => xs[0].IndexSelect(1, index).Tanh(), [GradCheck.Rand(1, 2, 3, 2)], what: "index_select");
        GradCheck.CheckSecondOrder(xs => xs[0].IndexAdd(0, index, xs[1]).Tanh(), [GradCheck.Rand(2, 4, 2), GradCheck.Rand(3, 3, 2)], what: "index_add");
    }

    // ───────────── one_hot ─────────────

    [Test]
    public void OneHot_MatchesDefinition()
    {
        var labels = Tensor.FromArray(new[] { 2, 0, 1, 2, 3, 0 }, 2, 3);
        var y = Tensor.OneHot(labels, 5);
        Assert.That(y.DType, Is.EqualTo(DType.Float32));
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 5 }));
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int c = 0; c < 5; c++)
            Assert.That(y[i, j, c], Is.EqualTo(c == (int)labels[i, j] ? 1f : 0f));
        Assert.That(Tensor.OneHot(labels).Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 4 }), "numClasses −1 infers max + 1");
    }

    // ───────────── bad inputs ─────────────

    [Test]
    public void OutOfRangeIndex_Throws_NamingValueSizeAndShapes()
    {
        var x = GradCheck.Rand(1, 3, 4);
        var bad = Tensor.FromArray(new[] { 0, 4, 1 }, 3, 1);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => x.Gather(1, bad));
        Assert.That(ex!.Message, Does.Contain("gather").And.Contain("index 4").And.Contain("size 4").And.Contain("(3, 4)").And.Contain("(3, 1)"));

        ex = Assert.Throws<ArgumentOutOfRangeException>(() => x.IndexSelect(0, Tensor.FromArray(new[] { -1 }, 1)));
        Assert.That(ex!.Message, Does.Contain("index_select").And.Contain("index -1").And.Contain("size 3"));

        ex = Assert.Throws<ArgumentOutOfRangeException>(() => x.ScatterAdd(0, Tensor.FromArray(new[] { 3 }, 1, 1), GradCheck.Rand(2, 1, 1)));
        Assert.That(ex!.Message, Does.Contain("scatter_add").And.Contain("index 3").And.Contain("size 3"));

        ex = Assert.Throws<ArgumentOutOfRangeException>(() => x.IndexAdd(1, Tensor.FromArray(new[] { 9 }, 1), GradCheck.Rand(2, 3, 1)));
        Assert.That(ex!.Message, Does.Contain("index_add").And.Contain("index 9").And.Contain("size 4"));

        ex = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.OneHot(Tensor.FromArray(new[] { 1, 5 }, 2), 3));
        Assert.That(ex!.Message, Does.Contain("label 5").And.Contain("3 classes"));
    }

    [Test]
    public void FloatIndexOrMismatchedShapes_Throw_NamingShapes()
    {
        var x = GradCheck.Rand(1, 3, 4);
        var ex = Assert.Throws<ArgumentException>(() => x.IndexSelect(0, Tensor.FromArray(new[] { 0f, 1f }, 2)));
        Assert.That(ex!.Message, Does.Contain("Int32").And.Contain("(2,)"));
        ex = Assert.Throws<ArgumentException>(() => x.Gather(0, Tensor.FromArray(new[] { 0f }, 1, 1)));
        Assert.That(ex!.Message, Does.Contain("Int32"));
        ex = Assert.Throws<ArgumentException>(() => x.Gather(0, Tensor.FromArray(new[] { 0, 1 }, 2)));
        Assert.That(ex!.Message, Does.Contain("rank").And.Contain("(3, 4)"));
        ex = Assert.Throws<ArgumentException>(() => x.Gather(0, Tensor.FromArray(new int[10], 2, 5)));
        Assert.That(ex!.Message, Does.Contain("dimension 1").And.Contain("(2, 5)"));
        ex = Assert.Throws<ArgumentException>(() => x.IndexAdd(0, Tensor.FromArray(new[] { 0, 1 }, 2), GradCheck.Rand(1, 2, 5)));
        Assert.That(ex!.Message, Does.Contain("(2, 5)").And.Contain("(2, 4)"));
    }
}

public class IndexSelectIntTests
{
    [Test]
    public void IndexSelect_OnInt32Labels_CopiesRows()
    {
        var labels = Denoise.Tensor.FromArray(new[] { 10, 11, 12, 13, 14, 15 }, 3, 2);
        var picked = labels.IndexSelect(0, Denoise.Tensor.FromArray(new[] { 2, 0, 2 }, 3));
        Assert.That(picked.DType, Is.EqualTo(Denoise.DType.Int32));
        Assert.That(picked.ToIntArray(), Is.EqualTo(new[] { 14, 15, 10, 11, 14, 15 }));
        Assert.That(labels.IndexSelect(1, Denoise.Tensor.FromArray(new[] { 1 }, 1)).ToIntArray(), Is.EqualTo(new[] { 11, 13, 15 }));
        Assert.Catch<ArgumentException>(() => labels.IndexSelect(0, Denoise.Tensor.FromArray(new[] { 3 }, 1)));
    }
}
