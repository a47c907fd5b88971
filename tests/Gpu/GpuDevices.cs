// GpuDevices.cs — the accelerators the GPU tests run on: ILGPU's CPU accelerator always (CI has no
// GPU), CUDA when a device is present (otherwise those cases are ignored with a message).
// One context per kind for the whole test run: creating one and compiling kernels is the slow part.
using Denoise.Kernels.Gpu;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

public static class GpuDevices
{
    public const string IlgpuCpu = "IlgpuCpu", Cuda = "Cuda";

    /// <summary>Test-case source: every kind a test body should run on.</summary>
    public static readonly string[] Kinds = [IlgpuCpu, Cuda];

    static readonly Lazy<GpuContext> cpu = new(() => GpuContext.CpuAccelerator());
    static readonly Lazy<GpuContext?> cuda = new(() => GpuContext.CudaDeviceCount() > 0 ? GpuContext.Cuda() : null);

    /// <summary>The context for <paramref name="kind"/>, or Assert.Ignore when that device is absent.</summary>
    public static GpuContext Get(string kind)
    {
        if (kind == IlgpuCpu) return cpu.Value;
        var c = cuda.Value;
        if (c is null) Assert.Ignore("No CUDA device (or no libcuda.so.1): CUDA parity runs on a GPU machine (bench/gpu/run-on-device.sh).");
        return c!;
    }

    /// <summary>The engine device an engine-level fixture runs on ("ilgpu-cpu" or "cuda"), or Assert.Ignore when
    /// there is no CUDA device.</summary>
    public static GpuDevice EngineDevice(string fixtureKind)
    {
        if (fixtureKind == "cuda" && GpuContext.CudaDeviceCount() == 0)
            Assert.Ignore("No CUDA device (or no libcuda.so.1): these tests run on CUDA on a GPU machine.");
        return fixtureKind == "cuda" ? Device.Cuda() : Device.IlgpuCpu;
    }

    public static float[] Rand(int seed, int n, float lo = -1f, float hi = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.NextSingle();
        return a;
    }
}
