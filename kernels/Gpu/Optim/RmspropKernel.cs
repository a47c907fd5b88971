// Optim/RmspropKernel.cs — the fused RMSprop step of kernels/Cpu/Optim/RmspropKernel.cs as one GPU pass.
//
// Same math and operation order as the CPU file's scalar tail (Hinton 2012; centered form Graves 2013,
// eq. 38–45; written as torch.optim.RMSprop):
//   g ← g + wd·p;  s ← α·s + (1 − α)·g²;  centered: ḡ ← ḡ + (1 − α)(g − ḡ), a ← √(s − ḡ²) + eps, else a ← √s + eps;
//   momentum > 0: b ← μ·b + g/a, p ← p − lr·b;   else p ← p − lr·g/a
// Memory bound (3–5 reads, 2–4 writes per element): one grid-stride pass is the whole optimisation.
// Bit-identical to the CPU kernel on ILGPU's CPU accelerator; on CUDA ptxas may contract a·b + c into
// FMA (a few ulp).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Scalars of one RMSprop step (ints, not bools: see AdamStep).</summary>
public readonly struct RmspropStep(float lr, float alpha, float eps, float weightDecay, float momentum, bool centered)
{
    public readonly float Lr = lr, Alpha = alpha, Eps = eps, WeightDecay = weightDecay, Momentum = momentum;
    public readonly int Centered = centered ? 1 : 0;
}

public static class RmspropKernel
{
    public static void StepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sqAvg, ArrayView<float> gAvg,
        ArrayView<float> buf, RmspropStep h)
    {
        int n = p.IntLength, stride = Grid.DimX * Group.DimX;
        float w = 1f - h.Alpha;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float pv = p[i], gv = g[i];
            if (h.WeightDecay != 0f) gv += h.WeightDecay * pv;
            float sv = h.Alpha * sqAvg[i] + w * (gv * gv);
            sqAvg[i] = sv;
            float a;
            if (h.Centered != 0)
            {
                float av = gAvg[i];
                av += w * (gv - av);
                gAvg[i] = av;
                a = MathF.Sqrt(sv - av * av) + h.Eps;
            }
            else a = MathF.Sqrt(sv) + h.Eps;
            if (h.Momentum > 0f)
            {
                float b = h.Momentum * buf[i] + gv / a;
                buf[i] = b;
                p[i] = pv - h.Lr * b;
            }
            else p[i] = pv - h.Lr * (gv / a);
        }
    }

    /// <summary>One RMSprop step in place (asynchronous); <paramref name="gAvg"/> is empty unless centered,
    /// <paramref name="buf"/> empty unless momentum &gt; 0.</summary>
    public static void Step(GpuContext gpu, ArrayView<float> p, ArrayView<float> g, ArrayView<float> sqAvg, ArrayView<float> gAvg,
        ArrayView<float> buf, RmspropStep h)
    {
        long n = p.Length;
        if (g.Length != n || sqAvg.Length != n || (h.Centered != 0 && gAvg.Length != n) || (h.Momentum > 0f && buf.Length != n) || n > int.MaxValue)
            throw new ArgumentException($"Gpu.RmspropKernel.Step: lengths p={n}, g={g.Length}, sqAvg={sqAvg.Length}, gAvg={gAvg.Length}, buf={buf.Length} do not match (gAvg only when centered, buf only with momentum).");
        if (n == 0) return;
        var k = gpu.Kernels.Get("Rmsprop.Step", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, RmspropStep>(StepKernel));
        k(gpu.StreamConfig(n), p, g, sqAvg, gAvg, buf, h);
    }
}
