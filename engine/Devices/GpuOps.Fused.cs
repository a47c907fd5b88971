// GpuOps.Fused.cs — the GPU side of the engine's fused ops whose CPU kernels live in kernels/Cpu/Norm
// and kernels/Cpu/Attention: row softmax / log-softmax, LayerNorm and flash attention. The engine op
// (engine/Ops/Reduce.cs, engine/NN/Functional.Norms.cs, engine/NN/Functional.Attention.cs) takes the
// same fused path for GPU tensors as for CPU tensors and calls these after one `Storage is GpuStorage`
// test; under create-graph both devices build the backward from differentiable ops instead.
// Kept apart from GpuOps.cs (same partial class) so the two files change independently.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedOps
using Denoise.Kernels.Cpu;
using Denoise.Kernels.Gpu;
using ILGPU;
using GpuAttention = Denoise.Kernels.Gpu.FlashAttention;
using GpuLayerNorm = Denoise.Kernels.Gpu.LayerNorm;
using GpuSoftmax = Denoise.Kernels.Gpu.Softmax;

namespace Denoise;

internal static partial class GpuOps
{
    // ---- softmax / log-softmax over the last axis (kernels/Gpu/Norm/Softmax.cs) ----

    /// <summary>y = [log-]softmax of each row of <paramref name="L"/> of the contiguous x.</summary>
    public static void SoftmaxForward(Tensor x, Tensor y, int L, bool log) => GpuSoftmax.Forward(Gpu(y), Read(x), Write(y), L, log);

    public static void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int L, bool log) => GpuSoftmax.Backward(Gpu(dx), Read(y), Read(dy), Write(dx), L, log);

    // ---- LayerNorm (kernels/Gpu/Norm/LayerNorm.cs) ----

    public static void LayerNormForward(Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd, int D, float eps)
        => GpuLayerNorm.Forward(Gpu(y), Read(x), w == null ? default : Read(w), b == null ? default : Read(b), Write(y), Write(mean), Write(rstd), D, eps);

    public static void LayerNormBackward(Tensor x, Tensor dy, Tensor? w, Tensor mean, Tensor rstd, Tensor dx, Tensor? dw, Tensor? db, int D)
    {
        var gpu = Gpu(dx);
        int R = x.Numel / D;
        var partials = dw != null || db != null ? Tensor.Empty([Math.Max(1, GpuLayerNorm.PartialsLength(gpu, R, D))], DType.Float32, dx.Device) : null;
        GpuLayerNorm.Backward(gpu, Read(x), Read(dy), w == null ? default : Read(w), Read(mean), Read(rstd), Write(dx),
            dw == null ? default : Write(dw), db == null ? default : Write(db), partials == null ? default : Write(partials), D);
    }

    // ---- attention core, flash forward / FlashAttention-2 backward (kernels/Gpu/Attention/FlashAttention.cs) ----

    /// <summary>True when the device's shared memory holds the flash kernels' tiles for head dims D (q, k) and Dv (v).</summary>
    public static bool AttentionSupports(Tensor q, int D, int Dv) => GpuAttention.Supports(Gpu(q), D, Dv);

    static FlashLayout Flash(AttentionLayout l) =>
        new(checked((int)l.Offset), checked((int)l.StrideB), checked((int)l.StrideH), checked((int)l.StrideT));

    static FlashArgs FlashArgsOf(in AttentionShape s, AttentionLayout ql, AttentionLayout kl, AttentionLayout vl, AttentionLayout gl) =>
        new(s.B, s.H, s.Tq, s.Tk, s.D, s.Dv, s.Scale, s.Causal, 0, 0, Flash(ql), Flash(kl), Flash(vl), Flash(gl));

    /// <summary>o (dense (…, Tq, Dv)) and lse (B·H·Tq); q, k, v read in place through their layouts.</summary>
    public static void AttentionForward(Tensor q, AttentionLayout ql, Tensor k, AttentionLayout kl, Tensor v, AttentionLayout vl,
        Tensor o, Tensor lse, in AttentionShape s)
        => GpuAttention.Forward(Gpu(o), S(q).DeviceRead(), S(k).DeviceRead(), S(v).DeviceRead(), Write(o), Write(lse),
            FlashArgsOf(s, ql, kl, vl, default));

    /// <summary>dq, dk, dv (dense, overwritten) from the saved o and lse and the upstream gradient g (layout gl).</summary>
    public static void AttentionBackward(Tensor q, AttentionLayout ql, Tensor k, AttentionLayout kl, Tensor v, AttentionLayout vl,
        Tensor o, Tensor lse, Tensor g, AttentionLayout gl, Tensor dq, Tensor dk, Tensor dv, in AttentionShape s)
    {
        int rows = s.B * s.H * s.Tq;
        var delta = Tensor.Empty([Math.Max(1, rows)], DType.Float32, dq.Device);   // Δ = rowsum(dO∘O)
        GpuAttention.Backward(Gpu(dq), S(q).DeviceRead(), S(k).DeviceRead(), S(v).DeviceRead(), Read(o), Read(lse), S(g).DeviceRead(),
            Write(delta).SubView(0, rows), Write(dq), Write(dk), Write(dv), FlashArgsOf(s, ql, kl, vl, gl));
    }
}
