// MultiOutputAutogradTests.cs — ops with several outputs (Split, Chunk, Unbind) record one node shared by
// all of them (Autograd.RecordMulti), whose rule runs once per backward with every output's gradient:
// gradients against finite differences (first and second order), outputs no gradient reaches, pieces
// used twice or combined with each other, hooks and Autograd.Grad on a piece, retain/free semantics.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~MultiOutputAutograd
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class MultiOutputAutogradTests
{
    [Test]
    public void SplitChunkUnbind_GradientsMatchFiniteDifferences()
    {
        GradCheck.Check(xs =>
        {
            var p = xs[0].Split([2, 3, 1], 1);                                  // (2,2) (2,3) (2,1)
            return Tensor.Cat([p[2] * 3f, p[0].Exp(), p[1] * p[1]], 1);
        }, [GradCheck.Rand(21, 2, 6)], what: "split sizes");
        GradCheck.Check(xs => xs[0].Split(2, 0)[2].Sin(), [GradCheck.Rand(22, 5, 3)], what: "split size, last piece smaller");
        GradCheck.Check(xs => { var c = xs[0].Chunk(3, -1); return c[0] * c[1] + c[2].Exp(); }, [GradCheck.Rand(23, 2, 9)], what: "chunk combined");
        GradCheck.Check(xs => { var u = xs[0].Unbind(1); return u[0] * u[2] - u[1]; }, [GradCheck.Rand(24, 3, 3, 2)], what: "unbind");
        GradCheck.Check(xs => { var u = xs[0].Permute(1, 0, 2).Unbind(0); return (u[0] + xs[1]) * u[1]; },
                        [GradCheck.Rand(25, 4, 2, 3), GradCheck.Rand(26, 4, 3)], what: "unbind of a permuted view, mixed with another input");
        GradCheck.CheckSecondOrder(xs => { var u = xs[0].Unbind(0); return (u[0] * u[1]).Exp(); }, [GradCheck.Rand(27, 2, 3)], what: "unbind");
        GradCheck.CheckSecondOrder(xs => { var s = xs[0].Split([1, 2], 1); return s[1] * s[0].Exp(); }, [GradCheck.Rand(28, 2, 3)], what: "split");
    }

    [Test]
    public void UnusedPieces_GetZeroGradient_AndTheRuleRunsOnce()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3).RequiresGrad_();
        var u = x.Unbind(1);
        (u[1] * 5f).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 5f, 0f, 0f, 5f, 0f }));

        // Both pieces used, and one of them twice: the gradients add inside each piece.
        x.Grad = null;
        var p = x.Split([1, 2], 1);
        (p[0] * 2f + p[0] * 3f + p[1]).Sum().Backward();   // p[0] (2,1) broadcasts over p[1]'s 2 columns
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2 * 5f, 1f, 1f, 2 * 5f, 1f, 1f }));
    }

    [Test]
    public void SplitRecordsOneNode_SharedByEveryPiece()
    {
        var x = GradCheck.Rand(30, 4, 6).RequiresGrad_();
        var pieces = x.Chunk(3, 1);
        Assert.That(pieces.Select(t => t.GradFnName), Is.All.EqualTo("split"));
        using (Autograd.NoGrad())
            Assert.That(x.Chunk(3, 1).Select(t => t.RequiresGrad), Is.All.False, "nothing recorded under NoGrad");
        var ints = Tensor.FromArray([1, 2, 3, 4], 4).Split(2);
        Assert.That(ints.Select(t => t.ToIntArray()), Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3, 4 } }));
    }

    [Test]
    public void HooksAndAutogradGrad_SeeEachPiecesGradient()
    {
        var x = GradCheck.Rand(31, 2, 4).RequiresGrad_();
        var p = x.Split([1, 3], 1);
        Tensor? seen = null;
        p[1].RegisterHook(g => { seen = g; return g * 2f; });   // doubles what flows on into x
        var loss = (p[0] * 3f).Sum() + (p[1] * 7f).Sum();
        var grads = Autograd.Grad([loss], [p[0], p[1], x], retainGraph: true);
        Assert.That(grads[0]!.ToArray(), Is.All.EqualTo(3f));
        Assert.That(seen!.ToArray(), Is.All.EqualTo(7f));
        Assert.That(grads[2]!.ToArray(), Is.EqualTo(new[] { 3f, 14f, 14f, 14f, 3f, 14f, 14f, 14f }));

        // The graph was retained: a second pass through the same split works and gives the same gradient.
        loss.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(grads[2]!.ToArray()));
        // Without retainGraph the graph (the split's node with it) is freed, and going through it again is a clear error.
        Assert.That(() => loss.Backward(), Throws.InvalidOperationException.With.Message.Contains("freed"));
        var y = x * 1f;
        var q = y.Split([1, 3], 1);
        var l2 = q[0].Sum();
        l2.Backward();
        Assert.That(() => (q[1].Sum() + 0f).Backward(), Throws.InvalidOperationException.With.Message.Contains("'split'").And.Message.Contains("freed"));
    }

    [Test]
    public void BadSizes_NameTheTensorAndShape()
    {
        var x = Tensor.Zeros(2, 5);
        Assert.That(() => x.Split([2, 2], 1), Throws.ArgumentException.With.Message.Contains("do not add up to dimension 1 of size 5"));
        Assert.That(() => x.Split([6, -1], 1), Throws.ArgumentException.With.Message.Contains("must not be negative").And.Message.Contains("(2, 5)"));
        Assert.That(() => x.Unbind(2), Throws.ArgumentException);
    }
}
