// Binary element-wise ops y = f(a, b). Comparisons return 1 or 0 as float, so masks multiply.
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Ops;

public readonly struct Add : IBinaryOp
{
    public static float Apply(float a, float b) => a + b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a + b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a + b;
}

public readonly struct Sub : IBinaryOp
{
    public static float Apply(float a, float b) => a - b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a - b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a - b;
}

public readonly struct Mul : IBinaryOp
{
    public static float Apply(float a, float b) => a * b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a * b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a * b;
}

public readonly struct Div : IBinaryOp
{
    public static float Apply(float a, float b) => a / b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a / b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a / b;
}

/// <summary>aᵇ. The SIMD form is e^(b·ln a), exact for a &gt; 0; for a ≤ 0 it falls back to MathF.Pow
/// per lane so that e.g. (−2)² = 4 and 0⁰ = 1 as in PyTorch.</summary>
public readonly struct Pow : IBinaryOp
{
    public static float Apply(float a, float b) => MathF.Pow(a, b);

    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b)
    {
        if (Vector256.GreaterThanAll(a, Vector256<float>.Zero)) return VecMath.Exp(b * Vector256.Log(a));
        Span<float> r = stackalloc float[Vector256<float>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = MathF.Pow(a[i], b[i]);
        return Vector256.Create((ReadOnlySpan<float>)r);
    }

    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b)
    {
        if (Vector512.GreaterThanAll(a, Vector512<float>.Zero)) return VecMath.Exp(b * Vector512.Log(a));
        Span<float> r = stackalloc float[Vector512<float>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = MathF.Pow(a[i], b[i]);
        return Vector512.Create((ReadOnlySpan<float>)r);
    }
}

/// <summary>max(a, b); NaN-propagating like torch.maximum.</summary>
public readonly struct Maximum : IBinaryOp
{
    public static float Apply(float a, float b) => MathF.Max(a, b);
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
}

/// <summary>min(a, b); NaN-propagating like torch.minimum.</summary>
public readonly struct Minimum : IBinaryOp
{
    public static float Apply(float a, float b) => MathF.Min(a, b);
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.Min(a, b);
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Min(a, b);
}

/// <summary>leaky_relu(x; slope) = x if x &gt; 0 else slope·x  (b = slope)</summary>
public readonly struct LeakyRelu : IBinaryOp
{
    public static float Apply(float x, float slope) => x > 0 ? x : slope * x;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> slope) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, slope * x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> slope) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, slope * x);
}

/// <summary>elu(x; α) = x if x &gt; 0 else α(eˣ − 1)  (b = α)</summary>
public readonly struct Elu : IBinaryOp
{
    public static float Apply(float x, float alpha) => x > 0 ? x : alpha * (MathF.Exp(x) - 1f);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> alpha) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, alpha * (VecMath.Exp(x) - Vector256<float>.One));
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> alpha) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, alpha * (VecMath.Exp(x) - Vector512<float>.One));
}

public readonly struct Greater : IBinaryOp
{
    public static float Apply(float a, float b) => a > b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b) & Vector512<float>.One;
}

public readonly struct GreaterEqual : IBinaryOp
{
    public static float Apply(float a, float b) => a >= b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThanOrEqual(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThanOrEqual(a, b) & Vector512<float>.One;
}

public readonly struct Less : IBinaryOp
{
    public static float Apply(float a, float b) => a < b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b) & Vector512<float>.One;
}

public readonly struct LessEqual : IBinaryOp
{
    public static float Apply(float a, float b) => a <= b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.LessThanOrEqual(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.LessThanOrEqual(a, b) & Vector512<float>.One;
}

public readonly struct Equal : IBinaryOp
{
    public static float Apply(float a, float b) => a == b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.Equals(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Equals(a, b) & Vector512<float>.One;
}

public readonly struct NotEqual : IBinaryOp
{
    public static float Apply(float a, float b) => a != b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => ~Vector256.Equals(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => ~Vector512.Equals(a, b) & Vector512<float>.One;
}

// ───── fused activation backward: dx = g · f′, one pass instead of the composed backward's 3–6 ─────
// Used by engine/Ops/Elementwise.cs when the backward is not itself recorded (no create-graph).
// Each computes the composed rule's expression in the same order (a is g, b is x or y).

/// <summary>silu′: g · (s · (1 + x · (1 − s))), s = σ(x); a = g, b = x.</summary>
public readonly struct SiLUBackward : IBinaryOp
{
    public static float Apply(float g, float x) { float s = Sigmoid.Apply(x); return g * (s * (1f + x * (1f - s))); }
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> x)
    { var s = Sigmoid.Apply(x); return g * (s * (Vector256<float>.One + x * (Vector256<float>.One - s))); }
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> x)
    { var s = Sigmoid.Apply(x); return g * (s * (Vector512<float>.One + x * (Vector512<float>.One - s))); }
}

/// <summary>gelu′ (exact): g · (Φ(x) + x·φ(x)), Φ(x) = (1 + erf(x/√2))/2, φ(x) = e^(−x²/2)/√(2π); a = g, b = x.</summary>
public readonly struct GeluExactBackward : IBinaryOp
{
    const float InvSqrt2 = 0.70710678118654752f, InvSqrt2Pi = 0.3989422804014327f;
    public static float Apply(float g, float x)
    {
        float cdf = (Erf.Apply(x * InvSqrt2) + 1f) * 0.5f, pdf = MathF.Exp(x * x * -0.5f) * InvSqrt2Pi;
        return g * (cdf + x * pdf);
    }
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> x)
    {
        var cdf = (Erf.Apply(x * Vector256.Create(InvSqrt2)) + Vector256<float>.One) * Vector256.Create(0.5f);
        var pdf = VecMath.Exp(x * x * Vector256.Create(-0.5f)) * Vector256.Create(InvSqrt2Pi);
        return g * (cdf + x * pdf);
    }
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> x)
    {
        var cdf = (Erf.Apply(x * Vector512.Create(InvSqrt2)) + Vector512<float>.One) * Vector512.Create(0.5f);
        var pdf = VecMath.Exp(x * x * Vector512.Create(-0.5f)) * Vector512.Create(InvSqrt2Pi);
        return g * (cdf + x * pdf);
    }
}

/// <summary>gelu_tanh′: g · ((1 + t)/2 + x/2 · (1 − t²) · c(1 + 3a·x²)), t = tanh(c(x + a·x³)); a = g, b = x.</summary>
public readonly struct GeluTanhBackward : IBinaryOp
{
    const float C = 0.7978845608028654f, A = 0.044715f;
    public static float Apply(float g, float x)
    {
        float x2 = x * x, t = Tanh.Apply((x + x2 * x * A) * C);
        return g * ((t + 1f) * 0.5f + x * 0.5f * (1f - t * t) * ((x2 * (3 * A) + 1f) * C));
    }
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> x)
    {
        var x2 = x * x;
        var t = Tanh.Apply((x + x2 * x * Vector256.Create(A)) * Vector256.Create(C));
        var half = Vector256.Create(0.5f);
        return g * ((t + Vector256<float>.One) * half + x * half * (Vector256<float>.One - t * t) * ((x2 * Vector256.Create(3 * A) + Vector256<float>.One) * Vector256.Create(C)));
    }
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> x)
    {
        var x2 = x * x;
        var t = Tanh.Apply((x + x2 * x * Vector512.Create(A)) * Vector512.Create(C));
        var half = Vector512.Create(0.5f);
        return g * ((t + Vector512<float>.One) * half + x * half * (Vector512<float>.One - t * t) * ((x2 * Vector512.Create(3 * A) + Vector512<float>.One) * Vector512.Create(C)));
    }
}

/// <summary>σ′ from the output: g · (y · (1 − y)); a = g, b = y.</summary>
public readonly struct SigmoidBackward : IBinaryOp
{
    public static float Apply(float g, float y) => g * (y * (1f - y));
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> y) => g * (y * (Vector256<float>.One - y));
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> y) => g * (y * (Vector512<float>.One - y));
}

/// <summary>tanh′ from the output: g · (1 − y²); a = g, b = y.</summary>
public readonly struct TanhBackward : IBinaryOp
{
    public static float Apply(float g, float y) => g * (1f - y * y);
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> y) => g * (Vector256<float>.One - y * y);
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> y) => g * (Vector512<float>.One - y * y);
}

/// <summary>relu′: g where x &gt; 0, else 0 (0 at the kink, as PyTorch); a = g, b = x.</summary>
public readonly struct ReluBackward : IBinaryOp
{
    public static float Apply(float g, float x) => x > 0f ? g : 0f;
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> x) => Vector256.GreaterThan(x, Vector256<float>.Zero) & g;
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> x) => Vector512.GreaterThan(x, Vector512<float>.Zero) & g;
}
