// Gradient checks by central finite differences.
//
// The engine computes in float32, so a plain central difference is noisy: rounding in f is ~1e-7
// relative, which a step h turns into ~1e-7/h of gradient error, while the truncation error grows
// as h². We therefore take h = 1e-2 and cancel the h² term by Richardson extrapolation:
//   D(h) = (f(x+h) − f(x−h)) / 2h,   D* = (4·D(h/2) − D(h)) / 3   (truncation O(h⁴) ≈ 1e-8·f⁽⁵⁾),
// and accumulate the scalar objective L = Σ wᵢ·yᵢ in float64 from the float32 outputs. Rounding
// then contributes ~1e-7·|L|/h ≈ 1e-5·|L|, so |analytic − numeric| ≤ 1e-3 + 1e-3·|numeric| holds for
// correct rules on O(1) inputs and fails for any wrong factor or sign. Non-smooth ops (relu, abs,
// max, clamp) must be checked at points at least 2h from their kinks.
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests;

public static class GradCheck
{
    public const double Step = 1e-2;

    /// <summary>Random O(1) float tensor from System.Random (independent of the engine's RNG).</summary>
    public static Tensor Rand(int seed, params int[] shape) => Rand(seed, -1f, 1f, shape);

    public static Tensor Rand(int seed, float lo, float hi, params int[] shape)
    {
        var r = new Random(seed);
        var data = new float[ShapeUtil.Numel(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(lo + (hi - lo) * r.NextDouble());
        return Tensor.FromArray(data, shape);
    }

    /// <summary>Checks d(Σ w·f(inputs))/d(inputs) against finite differences for every float input that requires grad.</summary>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double atol = 1e-3, double rtol = 1e-3, string? what = null)
    {
        foreach (var x in inputs) if (x.DType == DType.Float32) x.RequiresGrad = true;
        var y0 = f(inputs);
        var w = Rand(12345, 0.5f, 1.5f, y0.Shape.ToArray()).ToArray();

        foreach (var x in inputs) x.Grad = null;
        var loss = (y0 * Tensor.FromArray(w, y0.Shape.ToArray())).Sum();
        // A function whose output does not depend on any input through the tape (e.g. the gradient
        // of a piecewise-linear op, checked at second order) has analytic derivative 0.
        if (loss.RequiresGrad) loss.Backward();
        else foreach (var x in inputs) if (x.DType == DType.Float32) x.Grad = Tensor.ZerosLike(x);

        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            if (x.DType != DType.Float32) continue;
            x.Grad ??= Tensor.ZerosLike(x); // unused input: derivative 0, which the numeric side must confirm
            var analytic = x.Grad!.ToArray();
            var data = x.Data; // contiguous leaf created by the test
            for (int i = 0; i < x.Numel; i++)
            {
                int at = x.Offset + i;
                float orig = data[at];
                double Eval(double delta)
                {
                    data[at] = (float)(orig + delta);
                    double s = 0;
                    using (Autograd.NoGrad())
                    {
                        var yv = f(inputs).ToArray();
                        for (int j = 0; j < yv.Length; j++) s += (double)w[j] * yv[j];
                    }
                    data[at] = orig;
                    return s;
                }
                double d1 = (Eval(Step) - Eval(-Step)) / (2 * Step);
                double d2 = (Eval(Step / 2) - Eval(-Step / 2)) / Step;
                double numeric = (4 * d2 - d1) / 3;
                double err = Math.Abs(analytic[i] - numeric);
                Assert.That(err, Is.LessThanOrEqualTo(atol + rtol * Math.Abs(numeric)),
                    $"{what}: input {k} element {i}: analytic {analytic[i]} vs numeric {numeric}");
            }
        }
    }

    /// <summary>
    /// Second order: checks the gradient of u·∇f (∇f computed with createGraph) against finite
    /// differences, i.e. that the backward rules are themselves correctly differentiable.
    /// </summary>
    public static void CheckSecondOrder(Func<Tensor[], Tensor> f, Tensor[] inputs, double atol = 2e-3, double rtol = 2e-3, string? what = null)
    {
        foreach (var x in inputs) if (x.DType == DType.Float32) x.RequiresGrad = true;
        var floatInputs = inputs.Where(x => x.DType == DType.Float32).ToArray();
        var y0 = f(inputs);
        var w = Rand(777, 0.5f, 1.5f, y0.Shape.ToArray());
        var us = floatInputs.Select((x, i) => Rand(900 + i, 0.5f, 1.5f, x.Shape.ToArray())).ToArray();
        Tensor G(Tensor[] xs)
        {
            var y = f(xs);
            var l = (y * w).Sum();
            var fl = xs.Where(x => x.DType == DType.Float32).ToArray();
            var grads = Autograd.Grad([l], fl, createGraph: true, allowUnused: true);
            Tensor acc = Tensor.Scalar(0f);
            for (int i = 0; i < grads.Length; i++) if (grads[i] != null) acc = acc + (grads[i]! * us[i]).Sum();
            return acc;
        }
        // The numeric side evaluates G under NoGrad, where Autograd.Grad cannot run: re-enable it.
        Check(xs => { using (Autograd.EnableGrad()) return G(xs); }, inputs, atol, rtol, (what ?? "") + " (second order)");
    }
}
