// FusedActivationBackwardTests.cs — the one-pass backward kernels of SiLU, Sigmoid, Tanh and ReLU
// (kernels/Ops/Binary.cs *Backward, used when the backward is not recorded) against the composed
// rule (used under create-graph), against a double-precision reference, on odd sizes (SIMD tails),
// and through a non-contiguous upstream gradient. The existing gradchecks cover them too.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~FusedActivationBackward
using NUnit.Framework;

namespace Denoise.Tests.Engine;

public class FusedActivationBackwardTests
{
    static readonly Dictionary<string, (Func<Tensor, Tensor> F, Func<double, double> D)> Ops = new()
    {
        ["silu"] = (x => x.SiLU(), x => { double s = 1 / (1 + Math.Exp(-x)); return s * (1 + x * (1 - s)); }),
        ["sigmoid"] = (x => x.Sigmoid(), x => { double s = 1 / (1 + Math.Exp(-x)); return s * (1 - s); }),
        ["tanh"] = (x => x.Tanh(), x => 1 - Math.Tanh(x) * Math.Tanh(x)),
        ["relu"] = (x => x.Relu(), x => x > 0 ? 1 : 0),
    };

    [TestCase("silu", 1), TestCase("silu", 37), TestCase("silu", 1031)]
    [TestCase("sigmoid", 37), TestCase("tanh", 37), TestCase("relu", 37), TestCase("relu", 1031)]
    public void FusedBackward_MatchesComposedAndReference(string op, int n)
    {
        var (f, d) = Ops[op];
        var xa = GradCheck.Rand(1, -4f, 4f, 3, n).ToArray();
        if (op == "relu") xa[0] = 0f;                                    // the kink: gradient 0, as PyTorch
        var x = Tensor.FromArray(xa, 3, n);
        var g = GradCheck.Rand(2, -1f, 1f, n, 3).T;                               // non-contiguous upstream gradient
        var xf = x.Detach().RequiresGrad_();
        var fused = Autograd.Grad([f(xf)], [xf], [g])[0]!.ToArray();
        var xc = x.Detach().RequiresGrad_();
        var composed = Autograd.Grad([f(xc)], [xc], [g], createGraph: true)[0]!.ToArray();
        float[] xs = x.ToArray(), gs = g.Contiguous().ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.That(fused[i], Is.EqualTo(composed[i]).Within(1e-6 + 1e-6 * Math.Abs(composed[i])), $"{op}[{i}] fused vs composed");
            double want = gs[i] * d(xs[i]);
            Assert.That(fused[i], Is.EqualTo(want).Within(1e-5 + 1e-5 * Math.Abs(want)), $"{op}[{i}] vs double reference");
        }
    }
}
