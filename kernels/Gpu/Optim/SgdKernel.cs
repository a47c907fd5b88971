// Optim/SgdKernel.cs — the fused SGD step of kernels/Cpu/Optim/SgdKernel.cs as one GPU pass.
//
// Same math and operation order as the CPU file (torch.optim.SGD; Sutskever et al. 2013 for Nesterov):
//   g ← g + wd·p;  momentum ≠ 0: b ← first ? g : μ·b + (1 − dampening)·g,  d ← nesterov ? g + μ·b : b;
//   momentum = 0: d ← g;   p ← p − lr·d
// Bit-identical to the CPU's scalar tail on the CPU accelerator; on CUDA ptxas may contract to FMA.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Scalars of one SGD step (ints, not bools: see AdamStep).</summary>
public readonly struct SgdStep(float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
{
    public readonly float Lr = lr, Momentum = momentum, Dampening = dampening, WeightDecay = weightDecay;
    public readonly int Nesterov = nesterov ? 1 : 0, FirstStep = firstStep ? 1 : 0;
}

public static class SgdKernel
{
    public static void StepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdStep h)
    {
        int n = p.IntLength, stride = Grid.DimX * Group.DimX;
        float add = 1f - h.Dampening;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float pv = p[i], gv = g[i];
            if (h.WeightDecay != 0f) gv += h.WeightDecay * pv;
            float d = gv;
            if (h.Momentum != 0f)
            {
                float b = h.FirstStep != 0 ? gv : h.Momentum * buf[i] + add * gv;
                buf[i] = b;
                d = h.Nesterov != 0 ? gv + h.Momentum * b : b;
            }
            p[i] = pv - h.Lr * d;
        }
    }

    /// <summary>One SGD step in place (asynchronous); <paramref name="buf"/> is empty when momentum is 0.</summary>
    public static void Step(GpuContext gpu, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdStep h)
    {
        long n = p.Length;
        if (g.Length != n || (h.Momentum != 0f && buf.Length != n) || n > int.MaxValue)
            throw new ArgumentException($"Gpu.SgdKernel.Step: lengths p={n}, g={g.Length}, buf={buf.Length} must match (buf only with momentum).");
        var k = gpu.Kernels.Get("Sgd.Step", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdStep>(StepKernel));
        k(gpu.StreamConfig(n), p, g, buf, h);
    }
}
