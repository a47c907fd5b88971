// IntOps.cs — the one Int32 arithmetic kernel the engine needs on a device: t += v over a contiguous
// Int32 buffer (BatchNorm's num_batches_tracked counter, which lives with the module's buffers on the
// device; reading it to the host to increment it would cost a synchronisation per forward).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class IntOps
{
    public static void AddScalarKernel(ArrayView<int> t, int v)
    {
        int n = t.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) t[i] += v;
    }

    public static void AddScalar(GpuContext gpu, ArrayView<int> t, int v)
    {
        if (t.Length == 0) return;
        gpu.Kernels.Get("IntOps.AddScalar", a => a.LoadStreamKernel<ArrayView<int>, int>(AddScalarKernel))(gpu.StreamConfig(t.Length), t, v);
    }
}
