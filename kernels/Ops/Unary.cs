// Unary element-wise ops. Each struct: the formula in its doc comment, a scalar form, and SIMD forms.
// Transcendentals: eˣ from VecMath.Exp (inlined, ≈1 ulp; see VecMath.cs for why not .NET's), Log/Sin/Cos from
// .NET's Vector256/512 (≈1 ulp float approximations).
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Ops;

/// <summary>y = −x</summary>
public readonly struct Neg : IUnaryOp
{
    public static float Apply(float x) => -x;
    public static Vector256<float> Apply(Vector256<float> x) => -x;
    public static Vector512<float> Apply(Vector512<float> x) => -x;
}

/// <summary>y = |x|</summary>
public readonly struct Abs : IUnaryOp
{
    public static float Apply(float x) => MathF.Abs(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Abs(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Abs(x);
}

/// <summary>y = sign(x) ∈ {−1, 0, 1} (the derivative of |x|, taking 0 at the kink).</summary>
public readonly struct Sign : IUnaryOp
{
    public static float Apply(float x) => x > 0 ? 1f : x < 0 ? -1f : 0f;
    public static Vector256<float> Apply(Vector256<float> x) =>
        (Vector256.GreaterThan(x, Vector256<float>.Zero) & Vector256<float>.One)
        - (Vector256.LessThan(x, Vector256<float>.Zero) & Vector256<float>.One);
    public static Vector512<float> Apply(Vector512<float> x) =>
        (Vector512.GreaterThan(x, Vector512<float>.Zero) & Vector512<float>.One)
        - (Vector512.LessThan(x, Vector512<float>.Zero) & Vector512<float>.One);
}

/// <summary>y = eˣ</summary>
public readonly struct Exp : IUnaryOp
{
    public static float Apply(float x) => MathF.Exp(x);
    public static Vector256<float> Apply(Vector256<float> x) => VecMath.Exp(x);
    public static Vector512<float> Apply(Vector512<float> x) => VecMath.Exp(x);
}

/// <summary>y = ln x</summary>
public readonly struct Log : IUnaryOp
{
    public static float Apply(float x) => MathF.Log(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Log(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Log(x);
}

/// <summary>y = √x</summary>
public readonly struct Sqrt : IUnaryOp
{
    public static float Apply(float x) => MathF.Sqrt(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Sqrt(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Sqrt(x);
}

/// <summary>y = 1/√x (exact division, not the 12-bit hardware estimate: gradients are checked against it).</summary>
public readonly struct Rsqrt : IUnaryOp
{
    public static float Apply(float x) => 1f / MathF.Sqrt(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256<float>.One / Vector256.Sqrt(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512<float>.One / Vector512.Sqrt(x);
}

/// <summary>y = sin x</summary>
public readonly struct Sin : IUnaryOp
{
    public static float Apply(float x) => MathF.Sin(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Sin(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Sin(x);
}

/// <summary>y = cos x</summary>
public readonly struct Cos : IUnaryOp
{
    public static float Apply(float x) => MathF.Cos(x);
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Cos(x);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Cos(x);
}

/// <summary>σ(x) = 1 / (1 + e⁻ˣ). No cancellation anywhere: e⁻ˣ → ∞ gives 0, → 0 gives 1.</summary>
public readonly struct Sigmoid : IUnaryOp
{
    public static float Apply(float x) => 1f / (1f + MathF.Exp(-x));
    public static Vector256<float> Apply(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + VecMath.Exp(-x));
    public static Vector512<float> Apply(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + VecMath.Exp(-x));
}

/// <summary>
/// tanh x = sign(x)·(1 − e)/(1 + e), e = e^(−2|x|). Near 0 the subtraction 1 − e cancels, so for
/// |x| &lt; 0.25 a Taylor series is used instead (odd terms to x¹¹: truncation error &lt; 2e-9 there).
/// </summary>
public readonly struct Tanh : IUnaryOp
{
    public static float Apply(float x) => MathF.Tanh(x);

    public static Vector256<float> Apply(Vector256<float> x)
    {
        var ax = Vector256.Abs(x);
        var e = VecMath.Exp(ax * Vector256.Create(-2f));
        var big = (Vector256<float>.One - e) / (Vector256<float>.One + e);
        big = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), -big, big);
        var x2 = x * x;
        var p = Vector256.Create(-1382f / 155925f);
        p = p * x2 + Vector256.Create(62f / 2835f);
        p = p * x2 + Vector256.Create(-17f / 315f);
        p = p * x2 + Vector256.Create(2f / 15f);
        p = p * x2 + Vector256.Create(-1f / 3f);
        var small = x + x * x2 * p;
        return Vector256.ConditionalSelect(Vector256.LessThan(ax, Vector256.Create(0.25f)), small, big);
    }

    public static Vector512<float> Apply(Vector512<float> x)
    {
        var ax = Vector512.Abs(x);
        var e = VecMath.Exp(ax * Vector512.Create(-2f));
        var big = (Vector512<float>.One - e) / (Vector512<float>.One + e);
        big = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), -big, big);
        var x2 = x * x;
        var p = Vector512.Create(-1382f / 155925f);
        p = p * x2 + Vector512.Create(62f / 2835f);
        p = p * x2 + Vector512.Create(-17f / 315f);
        p = p * x2 + Vector512.Create(2f / 15f);
        p = p * x2 + Vector512.Create(-1f / 3f);
        var small = x + x * x2 * p;
        return Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(0.25f)), small, big);
    }
}

/// <summary>relu(x) = max(x, 0)</summary>
public readonly struct Relu : IUnaryOp
{
    public static float Apply(float x) => x > 0 ? x : 0f;
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Max(x, Vector256<float>.Zero);
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Max(x, Vector512<float>.Zero);
}

/// <summary>step(x) = 1 if x &gt; 0 else 0 (relu's derivative).</summary>
public readonly struct Step : IUnaryOp
{
    public static float Apply(float x) => x > 0 ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.GreaterThan(x, Vector256<float>.Zero) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.GreaterThan(x, Vector512<float>.Zero) & Vector512<float>.One;
}

/// <summary>silu(x) = x·σ(x)  (Elfwing et al., 2017; "swish")</summary>
public readonly struct SiLU : IUnaryOp
{
    public static float Apply(float x) => x / (1f + MathF.Exp(-x));
    public static Vector256<float> Apply(Vector256<float> x) => x / (Vector256<float>.One + VecMath.Exp(-x));
    public static Vector512<float> Apply(Vector512<float> x) => x / (Vector512<float>.One + VecMath.Exp(-x));
}

/// <summary>
/// softplus(x) = ln(1 + eˣ) = max(x, 0) + ln(1 + e^(−|x|)): the second form never overflows.
/// ln(1+u) for small u loses digits, but u = e^(−|x|) is small only when max(x,0) dominates.
/// </summary>
public readonly struct Softplus : IUnaryOp
{
    public static float Apply(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));
    public static Vector256<float> Apply(Vector256<float> x) =>
        Vector256.Max(x, Vector256<float>.Zero) + Vector256.Log(Vector256<float>.One + VecMath.Exp(-Vector256.Abs(x)));
    public static Vector512<float> Apply(Vector512<float> x) =>
        Vector512.Max(x, Vector512<float>.Zero) + Vector512.Log(Vector512<float>.One + VecMath.Exp(-Vector512.Abs(x)));
}

/// <summary>
/// erf(x) by Abramowitz &amp; Stegun 7.1.26 (|error| ≤ 1.5e-7): erf(x) = 1 − (a₁t + … + a₅t⁵)e^(−x²),
/// t = 1/(1 + p|x|), odd extension for x &lt; 0. Used by exact GELU.
/// </summary>
public readonly struct Erf : IUnaryOp
{
    const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    public static float Apply(float x)
    {
        float ax = MathF.Abs(x);
        float t = 1f / (1f + P * ax);
        float y = 1f - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * MathF.Exp(-ax * ax);
        return x < 0 ? -y : y;
    }

    public static Vector256<float> Apply(Vector256<float> x)
    {
        var ax = Vector256.Abs(x);
        var t = Vector256<float>.One / (Vector256<float>.One + Vector256.Create(P) * ax);
        var poly = ((((Vector256.Create(A5) * t + Vector256.Create(A4)) * t + Vector256.Create(A3)) * t + Vector256.Create(A2)) * t + Vector256.Create(A1)) * t;
        var y = Vector256<float>.One - poly * VecMath.Exp(-ax * ax);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), -y, y);
    }

    public static Vector512<float> Apply(Vector512<float> x)
    {
        var ax = Vector512.Abs(x);
        var t = Vector512<float>.One / (Vector512<float>.One + Vector512.Create(P) * ax);
        var poly = ((((Vector512.Create(A5) * t + Vector512.Create(A4)) * t + Vector512.Create(A3)) * t + Vector512.Create(A2)) * t + Vector512.Create(A1)) * t;
        var y = Vector512<float>.One - poly * VecMath.Exp(-ax * ax);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), -y, y);
    }
}

/// <summary>y = x (the strided copy behind Contiguous()).</summary>
public readonly struct Identity : IUnaryOp
{
    public static float Apply(float x) => x;
    public static Vector256<float> Apply(Vector256<float> x) => x;
    public static Vector512<float> Apply(Vector512<float> x) => x;
}

/// <summary>gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2))  (Hendrycks &amp; Gimpel, 2016), the exact form.</summary>
public readonly struct GeluExact : IUnaryOp
{
    const float InvSqrt2 = 0.70710678118654752f;
    public static float Apply(float x) => 0.5f * x * (1f + Erf.Apply(x * InvSqrt2));
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Create(0.5f) * x * (Vector256<float>.One + Erf.Apply(x * Vector256.Create(InvSqrt2)));
    public static Vector512<float> Apply(Vector512<float> x) => Vector512.Create(0.5f) * x * (Vector512<float>.One + Erf.Apply(x * Vector512.Create(InvSqrt2)));
}

/// <summary>gelu_tanh(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), GPT-2's approximation.</summary>
public readonly struct GeluTanh : IUnaryOp
{
    const float C = 0.7978845608028654f, A = 0.044715f;
    public static float Apply(float x) => 0.5f * x * (1f + MathF.Tanh(C * (x + A * x * x * x)));
    public static Vector256<float> Apply(Vector256<float> x) =>
        Vector256.Create(0.5f) * x * (Vector256<float>.One + Tanh.Apply(Vector256.Create(C) * (x + Vector256.Create(A) * x * x * x)));
    public static Vector512<float> Apply(Vector512<float> x) =>
        Vector512.Create(0.5f) * x * (Vector512<float>.One + Tanh.Apply(Vector512.Create(C) * (x + Vector512.Create(A) * x * x * x)));
}
