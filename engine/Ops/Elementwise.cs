// Element-wise math with NumPy/PyTorch broadcasting. Each op: forward through a kernels/ struct
// (kernels/Ops/Unary.cs, Binary.cs) run by the SIMD loop (kernels/Cpu/Map.cs via Ops/Strided.cs),
// and beside it the backward rule, written with differentiable tensor ops so that it can itself be
// differentiated (create-graph). Derivative formulas are in each op's comment.
// The hot activations (SiLU, Sigmoid, Tanh, ReLU) run their backward as one fused kernel
// (kernels/Ops/Binary.cs *Backward) when the backward is not being recorded — Autograd.IsEnabled is
// true inside a backward rule exactly under create-graph — and the composed rule otherwise.
using K = Denoise.Kernels.Ops;

namespace Denoise;

public sealed partial class Tensor
{
    // ───────────────────── forward helpers (no autograd) ─────────────────────

    internal void CheckFloat(string op)
    {
        if (DType != DType.Float32) throw new ArgumentException($"{op}: tensor{NameSuffix} of shape {ShapeStr} is {DType}; expected Float32.");
    }

    /// <summary>
    /// Inputs of one op must live on one device: a clear error otherwise. The one exception, as in
    /// PyTorch, is a CPU 0-d tensor (Scalar(v), what `x * 2f` makes), which mixes with any device: the
    /// GPU kernels take its value as an argument.
    /// </summary>
    internal static void CheckSameDevice(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device && !IsHostScalar(a) && !IsHostScalar(b))
            throw new ArgumentException($"{op}: tensors are on different devices: tensor{a.NameSuffix} of shape {a.ShapeStr} on {a.Device} and " +
                $"tensor{b.NameSuffix} of shape {b.ShapeStr} on {b.Device}; move one with .To(device) (a model with module.To(device)).");
    }

    /// <summary>A 0-d CPU tensor: a number that may accompany tensors of any device.</summary>
    internal static bool IsHostScalar(Tensor t) => t.Rank == 0 && t.Storage is CpuStorage;

    /// <summary>The device an op with these inputs runs on: the first that is not a host scalar.</summary>
    internal static Device OpDevice(Tensor a, Tensor b) => IsHostScalar(a) ? b.Device : a.Device;

    internal static Tensor MapUnary<TOp>(Tensor x, string op) where TOp : struct, K.IUnaryOp
    {
        x.CheckFloat(op);
        var y = Empty(x.shape, DType.Float32, x.Device);
        Strided.Unary<TOp>(x, y);
        return y;
    }

    internal static Tensor MapBinary<TOp>(Tensor a, Tensor b, string op) where TOp : struct, K.IBinaryOp
    {
        a.CheckFloat(op); b.CheckFloat(op); CheckSameDevice(op, a, b);
        var y = Empty(ShapeUtil.Broadcast(a.shape, b.shape, op), DType.Float32, OpDevice(a, b));
        Strided.Binary<TOp>(a, b, y);
        return y;
    }

    Tensor Unary<TOp>(string op, Func<Tensor, Tensor, Tensor> backward) where TOp : struct, K.IUnaryOp
    {
        var x = this;
        var y = MapUnary<TOp>(x, op);
        return Autograd.Record(op, y, [x], g => [backward(g, y)]);
    }

    // ───────────────────── unary ops ─────────────────────

    /// <summary>d(−x) = −1</summary>
    public Tensor Neg() => Unary<K.Neg>("neg", (g, _) => -g);
    /// <summary>d|x| = sign(x)</summary>
    public Tensor Abs() { var x = this; return Unary<K.Abs>("abs", (g, _) => g * x.Sign()); }
    /// <summary>sign(x); piecewise constant, so no gradient flows.</summary>
    public Tensor Sign() => MapUnary<K.Sign>(this, "sign");
    /// <summary>d eˣ = eˣ = y</summary>
    public Tensor Exp() => Unary<K.Exp>("exp", (g, y) => g * y);
    /// <summary>d ln x = 1/x</summary>
    public Tensor Log() { var x = this; return Unary<K.Log>("log", (g, _) => g / x); }
    /// <summary>d √x = 1/(2√x) = 0.5/y</summary>
    public Tensor Sqrt() => Unary<K.Sqrt>("sqrt", (g, y) => g * 0.5f / y);
    /// <summary>d x^(−½) = −½x^(−3/2) = −½y³</summary>
    public Tensor Rsqrt() => Unary<K.Rsqrt>("rsqrt", (g, y) => g * (y * y * y * -0.5f));
    /// <summary>d sin x = cos x</summary>
    public Tensor Sin() { var x = this; return Unary<K.Sin>("sin", (g, _) => g * x.Cos()); }
    /// <summary>d cos x = −sin x</summary>
    public Tensor Cos() { var x = this; return Unary<K.Cos>("cos", (g, _) => -(g * x.Sin())); }
    /// <summary>d tanh x = 1 − y²</summary>
    public Tensor Tanh() => Unary<K.Tanh>("tanh", (g, y) => Autograd.IsEnabled ? g * (1f - y * y) : MapBinary<K.TanhBackward>(g, y, "tanh_backward"));
    /// <summary>d σ(x) = y(1 − y)</summary>
    public Tensor Sigmoid() => Unary<K.Sigmoid>("sigmoid", (g, y) => Autograd.IsEnabled ? g * (y * (1f - y)) : MapBinary<K.SigmoidBackward>(g, y, "sigmoid_backward"));
    /// <summary>d relu(x) = step(x) (0 at the kink, as PyTorch)</summary>
    public Tensor Relu() { var x = this; return Unary<K.Relu>("relu", (g, _) => Autograd.IsEnabled ? g * x.StepMask() : MapBinary<K.ReluBackward>(g, x, "relu_backward")); }
    /// <summary>1 where x &gt; 0 else 0; constant, no gradient.</summary>
    internal Tensor StepMask() => MapUnary<K.Step>(this, "step");
    /// <summary>d silu(x) = σ(x)(1 + x(1 − σ(x)))</summary>
    public Tensor SiLU()
    {
        var x = this;
        return Unary<K.SiLU>("silu", (g, _) =>
        {
            if (!Autograd.IsEnabled) return MapBinary<K.SiLUBackward>(g, x, "silu_backward");   // one fused pass
            var s = x.Sigmoid();
            return g * (s * (1f + x * (1f - s)));
        });
    }
    /// <summary>d softplus(x) = σ(x)</summary>
    public Tensor Softplus() { var x = this; return Unary<K.Softplus>("softplus", (g, _) => g * x.Sigmoid()); }
    /// <summary>d erf(x) = (2/√π)·e^(−x²)</summary>
    public Tensor Erf() { var x = this; return Unary<K.Erf>("erf", (g, _) => g * ((x * x).Neg().Exp() * 1.1283791670955126f)); }

    /// <summary>
    /// GELU. Exact: d = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).
    /// Tanh form: u = c(x + a·x³), t = tanh u, d = ½(1 + t) + ½x(1 − t²)·c(1 + 3a·x²).
    /// </summary>
    public Tensor Gelu(bool approximateTanh = false)
    {
        var x = this;
        if (!approximateTanh)
            return Unary<K.GeluExact>("gelu", (g, _) =>
            {
                if (!Autograd.IsEnabled) return MapBinary<K.GeluExactBackward>(g, x, "gelu_backward");   // one fused pass
                var cdf = ((x * 0.70710678118654752f).Erf() + 1f) * 0.5f;
                var pdf = (x * x * -0.5f).Exp() * 0.3989422804014327f;
                return g * (cdf + x * pdf);
            });
        return Unary<K.GeluTanh>("gelu_tanh", (g, _) =>
        {
            if (!Autograd.IsEnabled) return MapBinary<K.GeluTanhBackward>(g, x, "gelu_tanh_backward");
            const float c = 0.7978845608028654f, a = 0.044715f;
            var x2 = x * x;
            var t = ((x + x2 * x * a) * c).Tanh();
            var d = (t + 1f) * 0.5f + x * 0.5f * (1f - t * t) * ((x2 * (3 * a) + 1f) * c);
            return g * d;
        });
    }

    /// <summary>leaky_relu: d = 1 for x &gt; 0, slope otherwise.</summary>
    public Tensor LeakyRelu(float negativeSlope = 0.01f)
    {
        var x = this;
        var y = MapBinary<K.LeakyRelu>(x, Scalar(negativeSlope), "leaky_relu");
        return Autograd.Record("leaky_relu", y, [x], g =>
        {
            // Not under create-graph: one fused pass (kernels/Cpu/LeakyReluBackward.cs); else differentiable ops.
            if (!Autograd.IsEnabled && g.Device == Device.Cpu && x.Device == Device.Cpu && g.IsContiguous && x.IsContiguous
                && ShapeUtil.Equal(g.shape, x.shape))
            {
                var dx = Empty(x.shape, DType.Float32, x.Device);
                Denoise.Kernels.Cpu.LeakyReluBackward.Run(g.Span, x.Span, negativeSlope, dx.Span);
                return [dx];
            }
            return [g * (x.StepMask() * (1f - negativeSlope) + negativeSlope)];
        });
    }

    /// <summary>elu: d = 1 for x &gt; 0, else α·eˣ = y + α.</summary>
    public Tensor Elu(float alpha = 1f)
    {
        var x = this;
        var y = MapBinary<K.Elu>(x, Scalar(alpha), "elu");
        return Autograd.Record("elu", y, [x], g =>
        {
            var pos = x.StepMask();
            return [g * (pos + (1f - pos) * (y + alpha))];
        });
    }

    /// <summary>clamp to [min, max]; d = 1 inside the interval (inclusive, as PyTorch), 0 outside.</summary>
    public Tensor Clamp(float? min = null, float? max = null)
    {
        var x = this;
        CheckFloat("clamp");
        Tensor y = x;
        if (min is float lo) y = MapBinary<K.Maximum>(y, Scalar(lo), "clamp");
        if (max is float hi) y = MapBinary<K.Minimum>(y, Scalar(hi), "clamp");
        if (ReferenceEquals(y, x)) y = MapUnary<K.Identity>(x, "clamp");
        return Autograd.Record("clamp", y, [x], g =>
        {
            Tensor mask = OnesLike(x);
            if (min is float lo2) mask = mask * MapBinary<K.GreaterEqual>(x, Scalar(lo2), "clamp");
            if (max is float hi2) mask = mask * MapBinary<K.LessEqual>(x, Scalar(hi2), "clamp");
            return [g * mask];
        });
    }

    /// <summary>xᵖ for a constant p: d = p·x^(p−1).</summary>
    public Tensor Pow(float p)
    {
        var x = this;
        if (p == 1f) return x * 1f;
        var y = MapBinary<K.Pow>(x, Scalar(p), "pow");
        return Autograd.Record("pow", y, [x], g => [p == 2f ? g * x * 2f : g * x.Pow(p - 1f) * p]);
    }

    public Tensor Square() => this * this;

    // ───────────────────── binary ops (broadcasting) ─────────────────────

    Tensor BinaryOp<TOp>(Tensor b, string op, Func<Tensor, Tensor, Tensor?[]> backward) where TOp : struct, K.IBinaryOp
    {
        var a = this;
        var y = MapBinary<TOp>(a, b, op);
        return Autograd.Record(op, y, [a, b], g => backward(g, y));
    }

    public Tensor Add(Tensor b) => BinaryOp<K.Add>(b, "add", (g, _) => [Grad1(g, this), Grad1(g, b)]);
    public Tensor Sub(Tensor b) => BinaryOp<K.Sub>(b, "sub", (g, _) => [Grad1(g, this), b.RequiresGrad ? (-g).SumTo(b.shape) : null]);
    /// <summary>d(ab) = (g·b, g·a)</summary>
    public Tensor Mul(Tensor b)
    {
        var a = this;
        return BinaryOp<K.Mul>(b, "mul", (g, _) => [
            a.RequiresGrad ? (g * b).SumTo(a.shape) : null,
            b.RequiresGrad ? (g * a).SumTo(b.shape) : null]);
    }
    /// <summary>d(a/b) = (g/b, −g·a/b²)</summary>
    public Tensor Div(Tensor b)
    {
        var a = this;
        return BinaryOp<K.Div>(b, "div", (g, _) => [
            a.RequiresGrad ? (g / b).SumTo(a.shape) : null,
            b.RequiresGrad ? (-(g * a) / (b * b)).SumTo(b.shape) : null]);
    }
    /// <summary>d(aᵇ) = (g·b·a^(b−1), g·aᵇ·ln a)</summary>
    public Tensor Pow(Tensor b)
    {
        var a = this;
        return BinaryOp<K.Pow>(b, "pow", (g, y) => [
            a.RequiresGrad ? (g * b * a.Pow(b - 1f)).SumTo(a.shape) : null,
            b.RequiresGrad ? (g * y * a.Log()).SumTo(b.shape) : null]);
    }
    /// <summary>Element-wise max; the gradient goes to the larger input (split equally on ties).</summary>
    public Tensor Maximum(Tensor b)
    {
        var a = this;
        return BinaryOp<K.Maximum>(b, "maximum", (g, _) =>
        {
            var wa = MapBinary<K.Greater>(a, b, "maximum") + MapBinary<K.Equal>(a, b, "maximum") * 0.5f;
            return [a.RequiresGrad ? (g * wa).SumTo(a.shape) : null, b.RequiresGrad ? (g * (1f - wa)).SumTo(b.shape) : null];
        });
    }
    /// <summary>Element-wise min; the gradient goes to the smaller input (split equally on ties).</summary>
    public Tensor Minimum(Tensor b)
    {
        var a = this;
        return BinaryOp<K.Minimum>(b, "minimum", (g, _) =>
        {
            var wa = MapBinary<K.Less>(a, b, "minimum") + MapBinary<K.Equal>(a, b, "minimum") * 0.5f;
            return [a.RequiresGrad ? (g * wa).SumTo(a.shape) : null, b.RequiresGrad ? (g * (1f - wa)).SumTo(b.shape) : null];
        });
    }

    static Tensor? Grad1(Tensor g, Tensor input) => input.RequiresGrad ? g.SumTo(input.shape) : null;

    // Comparisons: 1 where true, 0 where false (Float32, so masks multiply); never differentiable.
    public Tensor Gt(Tensor b) => MapBinary<K.Greater>(this, b, "gt");
    public Tensor Ge(Tensor b) => MapBinary<K.GreaterEqual>(this, b, "ge");
    public Tensor Lt(Tensor b) => MapBinary<K.Less>(this, b, "lt");
    public Tensor Le(Tensor b) => MapBinary<K.LessEqual>(this, b, "le");
    public Tensor Eq(Tensor b) => MapBinary<K.Equal>(this, b, "eq");
    public Tensor Ne(Tensor b) => MapBinary<K.NotEqual>(this, b, "ne");
    public Tensor Gt(float b) => Gt(Scalar(b));
    public Tensor Ge(float b) => Ge(Scalar(b));
    public Tensor Lt(float b) => Lt(Scalar(b));
    public Tensor Le(float b) => Le(Scalar(b));
    public Tensor Eq(float b) => Eq(Scalar(b));
    public Tensor Ne(float b) => Ne(Scalar(b));

    /// <summary>
    /// where(cond, a, b): a where cond ≠ 0, else b, broadcasting all three. A select, not
    /// cond·a + (1−cond)·b, so an Inf in the unselected branch does not leak NaN.
    /// d = (where(cond, g, 0), where(cond, 0, g)).
    /// </summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        a.CheckFloat("where"); b.CheckFloat("where"); cond.CheckFloat("where (condition)");
        CheckSameDevice("where", a, b); CheckSameDevice("where", cond, a);
        var shape = ShapeUtil.Broadcast(ShapeUtil.Broadcast(cond.shape, a.shape, "where"), b.shape, "where");
        var device = IsHostScalar(a) ? OpDevice(b, cond) : OpDevice(a, cond);
        if (device is GpuDevice)
        {
            var yg = Empty(shape, DType.Float32, device);
            using (Autograd.NoGrad()) GpuOps.Where(cond, a, b, yg);
            return RecordWhere(cond, a, b, yg);
        }
        var c = cond.Expand(shape).ContiguousNoGrad();
        var av = a.Expand(shape).ContiguousNoGrad();
        var bv = b.Expand(shape).ContiguousNoGrad();
        var y = Empty(shape, DType.Float32, device);
        var cs = c.Span; var sa = av.Span; var sb = bv.Span; var ys = y.Span;
        for (int i = 0; i < ys.Length; i++) ys[i] = cs[i] != 0 ? sa[i] : sb[i];
        return RecordWhere(cond, a, b, y);
    }

    static Tensor RecordWhere(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        return Autograd.Record("where", y, [a, b], g =>
        {
            var zero = Scalar(0f);
            return [a.RequiresGrad ? Where(cond, g, zero).SumTo(a.shape) : null,
                    b.RequiresGrad ? Where(cond, zero, g).SumTo(b.shape) : null];
        });
    }

    public static Tensor Where(Tensor cond, float a, Tensor b) => Where(cond, Scalar(a), b);
    public static Tensor Where(Tensor cond, Tensor a, float b) => Where(cond, a, Scalar(b));

    /// <summary>Replaces elements where <paramref name="mask"/> ≠ 0 by <paramref name="value"/> (may be ±Inf).</summary>
    public Tensor MaskedFill(Tensor mask, float value) => Where(mask, Scalar(value), this);

    // ───────────────────── operators ─────────────────────

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator +(Tensor a, float b) => a.Add(Scalar(b));
    public static Tensor operator +(float a, Tensor b) => Scalar(a).Add(b);
    public static Tensor operator -(Tensor a, float b) => a.Sub(Scalar(b));
    public static Tensor operator -(float a, Tensor b) => Scalar(a).Sub(b);
    public static Tensor operator *(Tensor a, float b) => a.Mul(Scalar(b));
    public static Tensor operator *(float a, Tensor b) => Scalar(a).Mul(b);
    public static Tensor operator /(Tensor a, float b) => a.Mul(Scalar(1f / b));
    public static Tensor operator /(float a, Tensor b) => Scalar(a).Div(b);

    // ───────────────────── in-place (optimizers, buffers; never recorded) ─────────────────────

    void CheckInPlace(string op)
    {
        CheckFloat(op);
        if (Autograd.IsEnabled && RequiresGrad)
            throw new InvalidOperationException($"{op}: tensor{NameSuffix} requires grad; in-place updates must run under Autograd.NoGrad().");
        if (!IsContiguous) throw new InvalidOperationException($"{op}: tensor{NameSuffix} of shape {ShapeStr} is a non-contiguous view; in-place ops need contiguous tensors.");
    }

    /// <summary>this += alpha · other (other broadcast to this shape).</summary>
    public Tensor AddInPlace(Tensor other, float alpha = 1f)
    {
        CheckInPlace("AddInPlace");
        CheckSameDevice("AddInPlace", this, other);
        if (Storage is GpuStorage)
        {
            if (!ShapeUtil.Equal(ShapeUtil.Broadcast(shape, other.shape, "AddInPlace"), shape))
                throw new ArgumentException($"AddInPlace: cannot add shape {other.ShapeStr} into {ShapeStr}.");
            var addend = alpha == 1f ? other : MapBinary<K.Mul>(other, Scalar(alpha), "AddInPlace");
            Strided.Binary<K.Add>(this, addend, this);
            return this;
        }
        var src = other;
        if (!ShapeUtil.Equal(other.Shape, Shape) || !other.IsContiguous)
        {
            if (!ShapeUtil.Equal(ShapeUtil.Broadcast(shape, other.shape, "AddInPlace"), shape))
                throw new ArgumentException($"AddInPlace: cannot add shape {other.ShapeStr} into {ShapeStr}.");
            src = other.Expand(shape).ContiguousNoGrad();
        }
        var d = Span; var s = src.Span;
        // Map splits large adds over the worker pool: this is every leaf-gradient accumulation.
        if (alpha == 1f) Denoise.Kernels.Cpu.Map.Binary<K.Add>(s, d, d);
        else System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(s, alpha, d, d);
        return this;
    }

    public Tensor MulInPlace(float factor)
    {
        CheckInPlace("MulInPlace");
        if (Storage is GpuStorage) { Strided.Binary<K.Mul>(this, Scalar(factor), this); return this; }
        System.Numerics.Tensors.TensorPrimitives.Multiply(Span, factor, Span);
        return this;
    }

    public Tensor Fill(float value)
    {
        CheckInPlace("Fill");
        if (Storage is GpuStorage) GpuOps.Fill(this, value);
        else Span.Fill(value);
        return this;
    }

    public Tensor ZeroInPlace() => Fill(0f);

    /// <summary>Copies other's values into this tensor (shapes must match or broadcast).</summary>
    public Tensor CopyFrom(Tensor other)
    {
        CheckInPlace("CopyFrom");
        if (!ShapeUtil.Equal(ShapeUtil.Broadcast(shape, other.shape, "CopyFrom"), shape))
            throw new ArgumentException($"CopyFrom: cannot copy shape {other.ShapeStr} into {ShapeStr}.");
        if (other.Device != Device) other = other.Detach().To(Device);   // like torch's copy_, across devices
        if (Storage is GpuStorage) { StridedCopy.Copy(other.Expand(shape), this); return this; }
        other.Expand(shape).ContiguousNoGrad().Span.CopyTo(Span);
        return this;
    }
}
