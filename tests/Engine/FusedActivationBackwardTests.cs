// FusedActivationBackwardTests.cs — the one-pass backward kernels of SiLU, Sigmoid, Tanh, ReLU and GELU (exact, tanh)
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
        ["gelu"] = (x => x.Gelu(), x => 0.5 * (1 + Erf(x / Math.Sqrt(2))) + x * Math.Exp(-x * x / 2) / Math.Sqrt(2 * Math.PI)),
        ["gelu_tanh"] = (x => x.Gelu(approximateTanh: true), x =>
        {
            const double c = 0.7978845608028654, a = 0.044715;
            double t = Math.Tanh(c * (x + a * x * x * x));
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x);
        }),
    };

    /// <summary>erf in double (Numerical Recipes' erfc Chebyshev fit, |error| &lt; 1.2e−7 — below float resolution of the derivative).</summary>
    static double Erf(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - r : r - 1;
    }

    [TestCase("silu", 1), TestCase("silu", 37), TestCase("silu", 1031)]
    [TestCase("sigmoid", 37), TestCase("tanh", 37), TestCase("relu", 37), TestCase("relu", 1031)]
    [TestCase("gelu", 1), TestCase("gelu", 37), TestCase("gelu", 1031), TestCase("gelu_tanh", 37)]
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
