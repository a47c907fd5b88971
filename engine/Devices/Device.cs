// Where a tensor's storage lives. Only the CPU device exists in the engine core; the ILGPU issue adds
// CUDA / OpenCL / ILGPU-CPU devices as further subclasses. Model code only ever passes a Device
// around (`x.To(device)`, `module.To(device)`), so adding devices does not touch models.
namespace Denoise;

public abstract class Device
{
    /// <summary>The host CPU, running Denoise's own SIMD kernels.</summary>
    public static Device Cpu => CpuDevice.Instance;

    public abstract string Name { get; }

    /// <summary>Allocates uninitialised storage for <paramref name="length"/> elements.</summary>
    internal abstract Storage Allocate(int length, DType dtype);

    public override string ToString() => Name;

    /// <summary>Parses "cpu" (the only device in this build).</summary>
    public static Device Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "cpu" => Cpu,
        _ => throw new ArgumentException($"Unknown device '{name}'. Available: cpu."),
    };
}

public sealed class CpuDevice : Device
{
    internal static readonly CpuDevice Instance = new();
    CpuDevice() { }
    public override string Name => "cpu";
    internal override Storage Allocate(int length, DType dtype) => CpuStorage.Rent(length, dtype);
}
