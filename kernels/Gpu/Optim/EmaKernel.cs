// Optim/EmaKernel.cs — the EMA-weights update of engine/Optim/Ema.cs (s ← s + (1 − d)(p − s)) as one
// GPU pass over the shadow and the parameter, in place.
//
// The CPU computes it with TensorPrimitives.Lerp(s, p, w), which is float.Lerp = fma(s, 1 − w, p·w)
// (checked element by element against .NET 10: not s·(1 − w) + p·w, which differs in the last bit for
// ~25 % of elements). The kernel writes that same FMA, so the CPU accelerator is bit-identical and
// CUDA's fma.rn.f32 is too. Memory bound: 2 reads and 1 write per element.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class EmaKernel
{
    /// <summary>shadow[i] = fma(shadow[i], 1 − w, p[i]·w).</summary>
    public static void LerpKernel(ArrayView<float> shadow, ArrayView<float> p, float w)
    {
        int n = shadow.IntLength, stride = Grid.DimX * Group.DimX;
        float keep = 1f - w;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
            shadow[i] = MathF.FusedMultiplyAdd(shadow[i], keep, p[i] * w);
    }

    /// <summary>One EMA update of <paramref name="shadow"/> towards <paramref name="p"/> with weight <paramref name="w"/> = 1 − decay.</summary>
    public static void Update(GpuContext gpu, ArrayView<float> shadow, ArrayView<float> p, float w)
    {
        if (p.Length != shadow.Length || shadow.Length > int.MaxValue)
            throw new ArgumentException($"Gpu.EmaKernel.Update: lengths shadow={shadow.Length}, p={p.Length} must match.");
        if (shadow.Length == 0) return;
        gpu.Kernels.Get("Ema.Lerp", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, float>(LerpKernel))
            (gpu.StreamConfig(shadow.Length), shadow, p, w);
    }
}
