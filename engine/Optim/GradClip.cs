// GradClip.cs — gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
//
//   ClipGradNorm:  N = ‖(g_1, …, g_k)‖₂ over all gradients together (sum of squares in double,
//                  kernels/Cpu/Optim/GradNormKernel.cs); if maxNorm / (N + 1e-6) < 1 every gradient
//                  is scaled in place by that factor. The 1e-6 is torch's guard against N = 0.
//                  Returns N (before clipping). A NaN/∞ norm propagates into the gradients, as in torch
//                  with error_if_nonfinite=False; check the returned value to skip such steps.
//   ClipGradValue: g ← clamp(g, −c, c) elementwise.
// Parameters whose Grad is null are skipped. Neither allocates on the CPU. On a GPU device the sum of
// squares is a float device reduction per gradient, added on the device and read back once (one
// synchronisation per call); scaling and clamping are device ops.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise.Kernels.Cpu;

namespace Denoise.Optim;

public static class GradClip
{
    /// <summary>Scales all gradients so their joint L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentException($"ClipGradNorm: maxNorm must be ≥ 0, got {maxNorm}.");
        double sumSq = 0;
        Tensor? deviceSumSq = null;   // Σ g² of device gradients, summed on the device: one read for all of them
        foreach (var p in parameters)
            if (p.Grad is { } g)
            {
                if (g.Storage is GpuStorage)
                {
                    CheckGrad(p, g, "ClipGradNorm");
                    using (Autograd.NoGrad())
                    {
                        var part = (g * g).Sum();
                        if (deviceSumSq != null && deviceSumSq.Device != part.Device) { sumSq += deviceSumSq.Item(); deviceSumSq = null; }
                        deviceSumSq = deviceSumSq == null ? part : deviceSumSq + part;
                    }
                }
                else sumSq += GradNormKernel.SumOfSquares(GradSpan(p, g, "ClipGradNorm"));
            }
        if (deviceSumSq != null) sumSq += deviceSumSq.Item();   // one small read for all device gradients
        double norm = Math.Sqrt(sumSq);
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1 || double.IsNaN(coef))
        {
            float c = (float)coef;
            foreach (var p in parameters)
                if (p.Grad is { } g)
                {
                    if (g.Storage is GpuStorage) using (Autograd.NoGrad()) g.MulInPlace(c);
                    else System.Numerics.Tensors.TensorPrimitives.Multiply(g.Span, c, g.Span);
                }
        }
        return norm;
    }

    /// <summary>Clamps every gradient element into [−clipValue, clipValue] in place.</summary>
    public static void ClipGradValue(IEnumerable<Tensor> parameters, float clipValue)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(clipValue >= 0)) throw new ArgumentException($"ClipGradValue: clipValue must be ≥ 0, got {clipValue}.");
        foreach (var p in parameters)
            if (p.Grad is { } g)
            {
                if (g.Storage is GpuStorage)
                {
                    CheckGrad(p, g, "ClipGradValue");
                    using (Autograd.NoGrad()) g.CopyFrom(g.Clamp(-clipValue, clipValue));
                }
                else GradNormKernel.Clamp(GradSpan(p, g, "ClipGradValue"), -clipValue, clipValue);
            }
    }

    static Span<float> GradSpan(Tensor p, Tensor g, string op)
    {
        CheckGrad(p, g, op);
        return g.Span;
    }

    static void CheckGrad(Tensor p, Tensor g, string op)
    {
        if (g.DType != DType.Float32 || !g.IsContiguous)
            throw new InvalidOperationException($"{op}: the gradient of{p.NameSuffix} (shape {g.ShapeStr}) must be a contiguous Float32 tensor.");
    }
}
