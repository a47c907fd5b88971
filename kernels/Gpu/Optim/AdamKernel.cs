// Optim/AdamKernel.cs — the fused Adam/AdamW step of kernels/Cpu/Optim/AdamKernel.cs as one GPU pass.
//
// Same math, same operation order (see the CPU file: Kingma & Ba 2015; Loshchilov & Hutter 2019):
//   p ← p·decay;  g ← g + l2·p;  m ← m + (1−β1)(g − m);  v ← β2·v + (1−β2)·g²;
//   v̂ ← amsgrad ? (vMax ← max(vMax, v)) : v;  p ← p − stepSize · m / (√v̂ / bc2Sqrt + eps)
// stepSize and bc2Sqrt are computed by the caller in double, as on the CPU. Memory bound: 4–5 reads
// and 3–4 writes per element, so one grid-stride pass is the whole optimisation. On the CPU
// accelerator the result is bit-identical to the CPU kernel; on CUDA ptxas may contract a·b + c into
// FMA, so expect agreement to a few ulp.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Adam
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Scalars of one Adam/AdamW step (see the file header).</summary>
public readonly struct AdamStep(float beta1, float beta2, float eps, float l2, float decay, float stepSize, float bc2Sqrt, bool amsgrad)
{
    public readonly float Beta1 = beta1, Beta2 = beta2, Eps = eps, L2 = l2, Decay = decay, StepSize = stepSize, Bc2Sqrt = bc2Sqrt;
    public readonly int Amsgrad = amsgrad ? 1 : 0;   // int, not bool: bool kernel parameters are marshalled inconsistently across backends
}

public static class AdamKernel
{
    public static void StepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> vMax, AdamStep h)
    {
        int n = p.IntLength, stride = Grid.DimX * Group.DimX;
        float w1 = 1f - h.Beta1, w2 = 1f - h.Beta2;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float pv = p[i] * h.Decay;
            float gv = g[i] + h.L2 * pv;
            float mv = m[i];
            mv += w1 * (gv - mv);
            float vv = h.Beta2 * v[i] + w2 * (gv * gv);
            m[i] = mv;
            v[i] = vv;
            if (h.Amsgrad != 0)
            {
                vv = MathF.Max(vMax[i], vv);
                vMax[i] = vv;
            }
            float denom = MathF.Sqrt(vv) / h.Bc2Sqrt + h.Eps;
            p[i] = pv - h.StepSize * (mv / denom);
        }
    }

    /// <summary>One Adam/AdamW step in place (asynchronous). <paramref name="vMax"/> is used only when amsgrad;
    /// pass an empty view otherwise.</summary>
    public static void Step(GpuContext gpu, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> vMax, AdamStep h)
    {
        long n = p.Length;
        if (g.Length != n || m.Length != n || v.Length != n || (h.Amsgrad != 0 && vMax.Length != n) || n > int.MaxValue)
            throw new ArgumentException($"Gpu.AdamKernel.Step: lengths p={n}, g={g.Length}, m={m.Length}, v={v.Length}, vMax={vMax.Length} must match (vMax only with amsgrad).");
        var k = gpu.Kernels.Get("Adam.Step", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, AdamStep>(StepKernel));
        k(gpu.StreamConfig(n), p, g, m, v, vMax, h);
    }
}
