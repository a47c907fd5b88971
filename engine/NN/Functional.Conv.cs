// Functional.Conv.cs — torch.nn.functional.conv1d / conv2d / conv_transpose2d, PyTorch semantics
// and weight layouts (NCHW; conv weight (Cout, Cin/groups, kH, kW); transposed-conv weight
// (Cin, Cout/groups, kH, kW)).
//
// Three recorded linear maps, each the adjoint of another (kernels in engine/Ops/ConvKernels.cs):
//   Conv(x, w)            y  = x ⋆ w                        (im2col + GEMM)
//   ConvInputGrad(y, w)   dx = ∂⟨x ⋆ w, y⟩/∂x                (GEMM + col2im; = transposed conv)
//   ConvWeightGrad(x, y)  dw = ∂⟨x ⋆ w, y⟩/∂w                (im2col + GEMM, summed over the batch)
// All three are restrictions of the one bilinear form B(x, w, y) = ⟨x ⋆ w, y⟩, so the backward of
// each is made of the other two:
//   Conv:           dx = ConvInputGrad(g, w),   dw = ConvWeightGrad(x, g)
//   ConvInputGrad:  dy = Conv(g, w),            dw = ConvWeightGrad(g, y)
//   ConvWeightGrad: dx = ConvInputGrad(y, g),   dy = Conv(x, g)
// and second-order gradients (WGAN-GP, R1) differentiate through conv backward for free.
// ConvTranspose2d(x, w) is ConvInputGrad of the convolution that maps Cout → Cin with the same w.
// Conv2d's bias is added by the forward kernel as it stores y, ConvTranspose2d's by the input-grad
// kernel as it stores its output (gradient of either: the sum of g over (N, H, W)).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Engine.Conv
namespace Denoise;

/// <summary>A (height, width) pair for stride/padding/dilation; converts from an int (both the same) or (h, w).</summary>
public readonly record struct Int2(int H, int W)
{
    public static implicit operator Int2(int v) => new(v, v);
    public static implicit operator Int2((int H, int W) t) => new(t.H, t.W);
    public override string ToString() => $"({H}, {W})";
}

public static partial class F
{
    /// <summary>
    /// 2-D convolution (cross-correlation, as torch.nn.functional.conv2d): x (N, Cin, H, W),
    /// w (Cout, Cin/groups, kH, kW), b (Cout) or null → (N, Cout, Hout, Wout) with
    /// Hout = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b = null, Int2? stride = null, Int2? padding = null,
        Int2? dilation = null, int groups = 1)
    {
        const string op = "conv2d";
        CheckOperands(op, x, w, b);
        Int2 s = stride ?? 1, p = padding ?? 0, d = dilation ?? 1;
        CheckHyper(op, s, p, d, groups);
        int cout = w.shape[0];
        if (b != null && (b.Rank != 1 || b.shape[0] != cout))
            throw new ArgumentException($"{op}: bias{b.NameSuffix} has shape {b.ShapeStr}, expected {ShapeUtil.Str([cout])} for weight{w.NameSuffix} {w.ShapeStr}.");
        int cin = x.shape[1];
        if (w.shape[1] * groups != cin)
            throw new ArgumentException($"{op}: input{x.NameSuffix} {x.ShapeStr} has {cin} channels but weight{w.NameSuffix} {w.ShapeStr} " +
                $"with groups = {groups} expects Cin = weight.shape[1]·groups = {w.shape[1] * groups}.");
        if (cout % groups != 0)
            throw new ArgumentException($"{op}: weight{w.NameSuffix} {w.ShapeStr} has {cout} output channels, not divisible by groups = {groups}.");
        var spec = new ConvSpec(cin, x.shape[2], x.shape[3], cout, w.shape[2], w.shape[3], s.H, s.W, p.H, p.W, d.H, d.W, groups);
        CheckFits(op, x, w, spec);
        return Conv(x, w, b, spec);
    }

    /// <summary>1-D convolution: x (N, Cin, L), w (Cout, Cin/groups, k), b (Cout) or null → (N, Cout, Lout); Conv2d with H = 1.</summary>
    public static Tensor Conv1d(Tensor x, Tensor w, Tensor? b = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        if (x.Rank != 3 || w.Rank != 3)
            throw new ArgumentException($"conv1d: expected input (N, Cin, L) and weight (Cout, Cin/groups, k), got input{x.NameSuffix} {x.ShapeStr} and weight{w.NameSuffix} {w.ShapeStr}.");
        var y = Conv2d(x.Unsqueeze(2), w.Unsqueeze(2), b, (1, stride), (0, padding), (1, dilation), groups);
        return y.Squeeze(2);
    }

    /// <summary>
    /// 2-D transposed convolution (torch.nn.functional.conv_transpose2d): x (N, Cin, H, W),
    /// w (Cin, Cout/groups, kH, kW), b (Cout) or null → (N, Cout, Hout, Wout) with
    /// Hout = (H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1. The adjoint of Conv2d
    /// with the same weight, stride, padding and dilation.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? b = null, Int2? stride = null, Int2? padding = null,
        Int2? outputPadding = null, Int2? dilation = null, int groups = 1)
    {
        const string op = "conv_transpose2d";
        CheckOperands(op, x, w, b);
        Int2 s = stride ?? 1, p = padding ?? 0, op2 = outputPadding ?? 0, d = dilation ?? 1;
        CheckHyper(op, s, p, d, groups);
        int cin = x.shape[1];
        if (w.shape[0] != cin)
            throw new ArgumentException($"{op}: input{x.NameSuffix} {x.ShapeStr} has {cin} channels but weight{w.NameSuffix} {w.ShapeStr} " +
                $"(layout (Cin, Cout/groups, kH, kW)) expects Cin = weight.shape[0] = {w.shape[0]}.");
        if (cin % groups != 0)
            throw new ArgumentException($"{op}: input{x.NameSuffix} {x.ShapeStr} has {cin} channels, not divisible by groups = {groups}.");
        // The adjoint convolution maps (Hout, Wout) back to exactly (H, W) only when outputPadding < stride.
        if (op2.H < 0 || op2.W < 0 || op2.H >= s.H || op2.W >= s.W)
            throw new ArgumentException($"{op}: outputPadding {op2} must be ≥ 0 and smaller than stride {s} (input{x.NameSuffix} {x.ShapeStr}).");
        int cout = w.shape[1] * groups, kh = w.shape[2], kw = w.shape[3];
        if (b != null && (b.Rank != 1 || b.shape[0] != cout))
            throw new ArgumentException($"{op}: bias{b.NameSuffix} has shape {b.ShapeStr}, expected {ShapeUtil.Str([cout])} = weight.shape[1]·groups for weight{w.NameSuffix} {w.ShapeStr}.");
        int H = x.shape[2], W = x.shape[3];
        int hout = (H - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1;
        int wout = (W - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (hout < 1 || wout < 1)
            throw new ArgumentException($"{op}: output size ({hout}, {wout}) is not positive for input{x.NameSuffix} {x.ShapeStr}, weight{w.NameSuffix} {w.ShapeStr}, " +
                $"stride {s}, padding {p}, dilation {d}, outputPadding {op2}.");
        // The forward convolution whose input gradient this is: (cout, hout, wout) → (cin, H, W).
        var spec = new ConvSpec(cout, hout, wout, cin, kh, kw, s.H, s.W, p.H, p.W, d.H, d.W, groups);
        return b == null ? ConvInputGrad(x, w, spec) : ConvTranspose(x, w, b, spec);
    }

    // ───────────────────── the three recorded maps ─────────────────────

    /// <summary>y (N, Cout, Hout, Wout) = x ⋆ w.</summary>
    internal static Tensor Conv(Tensor x, Tensor w, ConvSpec s)
    {
        var y = ConvKernels.Forward(x, w, null, s);
        return Autograd.Record("conv2d", y, [x, w], g => [
            x.RequiresGrad ? ConvInputGrad(g, w, s) : null,
            w.RequiresGrad ? ConvWeightGrad(x, g, s) : null]);
    }

    /// <summary>y = x ⋆ w + b, the bias added inside the kernel's store (one pass over y, not two);
    /// its gradient is the sum of g over (N, H, W), as for the broadcasting + it replaces.</summary>
    static Tensor Conv(Tensor x, Tensor w, Tensor? b, ConvSpec s)
    {
        if (b == null) return Conv(x, w, s);
        var y = ConvKernels.Forward(x, w, b, s);
        return Autograd.Record("conv2d", y, [x, w, b], g => [
            x.RequiresGrad ? ConvInputGrad(g, w, s) : null,
            w.RequiresGrad ? ConvWeightGrad(x, g, s) : null,
            b.RequiresGrad ? ConvBiasGrad(g, s.Cout) : null]);
    }

    /// <summary>ConvInputGrad(x, w) + b, the bias (one per output channel of the transposed convolution, i.e.
    /// per input channel of its adjoint convolution) added inside the kernel's store.</summary>
    static Tensor ConvTranspose(Tensor x, Tensor w, Tensor b, ConvSpec s)
    {
        var y = ConvKernels.InputGrad(x, w, b, s);
        return Autograd.Record("conv_transpose2d", y, [x, w, b], g => [
            x.RequiresGrad ? Conv(g, w, s) : null,
            w.RequiresGrad ? ConvWeightGrad(g, x, s) : null,
            b.RequiresGrad ? ConvBiasGrad(g, s.Cin) : null]);
    }

    /// <summary>dx (N, Cin, H, W) = ∂⟨x ⋆ w, y⟩/∂x for y (N, Cout, Hout, Wout); linear in y and in w.</summary>
    /// <summary>db (C) = g summed over images and pixels (= g.SumTo([1, C, 1, 1])), as one conv kernel pass; its
    /// backward broadcasts back, like Sum's, so second order still works.</summary>
    internal static Tensor ConvBiasGrad(Tensor g, int C)
    {
        var db = ConvKernels.BiasGrad(g, C);
        var shape = g.Shape.ToArray();
        return Autograd.Record("conv2d_bias_grad", db, [g], gb => [gb.Reshape(1, C, 1, 1).Expand(shape)]);
    }

    internal static Tensor ConvInputGrad(Tensor y, Tensor w, ConvSpec s)
    {
        var dx = ConvKernels.InputGrad(y, w, s);
        return Autograd.Record("conv2d_input_grad", dx, [y, w], g => [
            y.RequiresGrad ? Conv(g, w, s) : null,
            w.RequiresGrad ? ConvWeightGrad(g, y, s) : null]);
    }

    /// <summary>dw (Cout, Cin/G, kH, kW) = ∂⟨x ⋆ w, y⟩/∂w; linear in x and in y.</summary>
    internal static Tensor ConvWeightGrad(Tensor x, Tensor y, ConvSpec s)
    {
        var dw = ConvKernels.WeightGrad(x, y, s);
        return Autograd.Record("conv2d_weight_grad", dw, [x, y], g => [
            x.RequiresGrad ? ConvInputGrad(y, g, s) : null,
            y.RequiresGrad ? Conv(x, g, s) : null]);
    }

    // ───────────────────── validation ─────────────────────

    static void CheckOperands(string op, Tensor x, Tensor w, Tensor? b)
    {
        x.CheckFloat(op); w.CheckFloat(op);
        Tensor.CheckSameDevice(op, x, w);
        if (b != null) { b.CheckFloat(op); Tensor.CheckSameDevice(op, x, b); }
        if (x.Rank != 4)
            throw new ArgumentException($"{op}: input{x.NameSuffix} must be (N, C, H, W), got shape {x.ShapeStr}.");
        if (w.Rank != 4)
            throw new ArgumentException($"{op}: weight{w.NameSuffix} must have rank 4, got shape {w.ShapeStr}.");
        if (w.Numel == 0)
            throw new ArgumentException($"{op}: weight{w.NameSuffix} {w.ShapeStr} is empty.");
    }

    static void CheckHyper(string op, Int2 s, Int2 p, Int2 d, int groups)
    {
        if (s.H < 1 || s.W < 1) throw new ArgumentException($"{op}: stride must be positive, got {s}.");
        if (d.H < 1 || d.W < 1) throw new ArgumentException($"{op}: dilation must be positive, got {d}.");
        if (p.H < 0 || p.W < 0) throw new ArgumentException($"{op}: padding must be non-negative, got {p}.");
        if (groups < 1) throw new ArgumentException($"{op}: groups must be positive, got {groups}.");
    }

    static void CheckFits(string op, Tensor x, Tensor w, in ConvSpec s)
    {
        int effH = s.DH * (s.KH - 1) + 1, effW = s.DW * (s.KW - 1) + 1;
        if (effH > s.H + 2 * s.PH || effW > s.W + 2 * s.PW)
            throw new ArgumentException($"{op}: kernel of weight{w.NameSuffix} {w.ShapeStr} (dilated size ({effH}, {effW})) is larger than " +
                $"input{x.NameSuffix} {x.ShapeStr} padded to ({s.H + 2 * s.PH}, {s.W + 2 * s.PW}).");
    }
}
