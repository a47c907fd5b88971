// Where a tensor's storage lives, and the devices that exist:
//   Device.Cpu        the host, running Denoise's SIMD kernels (kernels/Cpu)
//   Device.Cuda(i)    an NVIDIA GPU through ILGPU's CUDA backend (kernels/Gpu compiled to PTX)
//   Device.OpenCL(i)  an OpenCL 2.0 GPU with generic address space (Intel/AMD in practice; shared/docs/ILGPU.md §6)
//   Device.IlgpuCpu   ILGPU's CPU accelerator: runs the very same GPU kernels on CPU threads. Slow (one
//                     OS thread per group thread); it exists so that CI, with no GPU, checks the GPU path.
// Model code only ever passes a Device around (`x.To(device)`, `module.To(device)`), so adding devices
// does not touch models. A GpuDevice owns one GpuContext (its kernels are compiled once per accelerator
// and cached; KernelCompileMilliseconds reports each first-launch compile) and one caching allocator.
// Device objects are cached: Device.Cuda(0) returns the same object every time, so devices compare by
// reference.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using System.Collections.Concurrent;
using Denoise.Kernels.Gpu;

namespace Denoise;

public abstract class Device
{
    /// <summary>The host CPU, running Denoise's own SIMD kernels.</summary>
    public static Device Cpu => CpuDevice.Instance;

    /// <summary>ILGPU's CPU accelerator running the GPU kernels (slow: for testing the GPU path without a GPU).</summary>
    public static GpuDevice IlgpuCpu => ilgpuCpu.Value;

    /// <summary>CUDA device <paramref name="index"/> (throws, listing what exists, when it is missing).</summary>
    public static GpuDevice Cuda(int index = 0) => gpus.GetOrAdd($"cuda:{index}", _ => new GpuDevice(GpuContext.Cuda(index), $"cuda:{index}"));

    /// <summary>OpenCL device <paramref name="index"/> (ILGPU needs OpenCL 2.0 with generic address space).</summary>
    public static GpuDevice OpenCL(int index = 0) => gpus.GetOrAdd($"opencl:{index}", _ => new GpuDevice(GpuContext.OpenCL(index), $"opencl:{index}"));

    static readonly Lazy<GpuDevice> ilgpuCpu = new(() => new GpuDevice(GpuContext.CpuAccelerator(), "ilgpu-cpu"));
    static readonly ConcurrentDictionary<string, GpuDevice> gpus = new();

    /// <summary>
    /// A GPU when one is present (CUDA first, then OpenCL), else the CPU (Denoise's SIMD kernels, not the
    /// slow ILGPU CPU accelerator). Writes one line saying what it picked and why to <paramref name="log"/>
    /// (standard error when null); the choice is also in <see cref="BestReason"/>.
    /// </summary>
    public static Device Best(TextWriter? log = null)
    {
        Device picked;
        string why;
        if (GpuContext.CudaDeviceCount() > 0)
        {
            var d = Cuda(0);
            (picked, why) = (d, d.Description);
        }
        else
        {
            try
            {
                var d = OpenCL(0);
                (picked, why) = (d, d.Description + " (no CUDA device)");
            }
            catch (Exception e)
            {
                (picked, why) = (Cpu, $"no CUDA device and no usable OpenCL device ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
            }
        }
        BestReason = $"Device.Best: {picked.Name} — {why}";
        (log ?? Console.Error).WriteLine(BestReason);
        return picked;
    }

    /// <summary>The line the last <see cref="Best"/> call printed.</summary>
    public static string? BestReason { get; private set; }

    public abstract string Name { get; }

    /// <summary>Allocates uninitialised storage for <paramref name="length"/> elements.</summary>
    internal abstract Storage Allocate(int length, DType dtype);

    public override string ToString() => Name;

    /// <summary>Parses "cpu", "cuda", "cuda:1", "opencl", "opencl:0", "ilgpu-cpu" or "best".</summary>
    public static Device Parse(string name)
    {
        string s = (name ?? "").Trim().ToLowerInvariant();
        if (s == "cpu") return Cpu;
        if (s is "ilgpu-cpu" or "ilgpucpu") return IlgpuCpu;
        if (s == "best") return Best();
        foreach (var (prefix, make) in new (string, Func<int, Device>)[] { ("cuda", i => Cuda(i)), ("opencl", i => OpenCL(i)) })
        {
            if (s == prefix) return make(0);
            if (s.StartsWith(prefix + ":", StringComparison.Ordinal))
            {
                if (int.TryParse(s.AsSpan(prefix.Length + 1), out int i) && i >= 0) return make(i);
                throw new ArgumentException($"Device '{name}': the index after '{prefix}:' must be a non-negative integer.");
            }
        }
        throw new ArgumentException($"Unknown device '{name}'. Available forms: cpu, cuda, cuda:N, opencl, opencl:N, ilgpu-cpu, best.");
    }
}

public sealed class CpuDevice : Device
{
    internal static readonly CpuDevice Instance = new();
    CpuDevice() { }
    public override string Name => "cpu";
    internal override Storage Allocate(int length, DType dtype) => CpuStorage.Rent(length, dtype);
}

/// <summary>A device running the ILGPU kernels of kernels/Gpu: CUDA, OpenCL or ILGPU's CPU accelerator.</summary>
public sealed class GpuDevice : Device
{
    /// <summary>The ILGPU context, accelerator and kernel cache.</summary>
    public GpuContext Gpu { get; }
    /// <summary>The caching allocator every GpuStorage of this device rents from.</summary>
    public GpuAllocator Memory { get; }
    public override string Name { get; }

    internal GpuDevice(GpuContext gpu, string name)
    {
        Gpu = gpu;
        Name = name;
        GemmVersion = gpu.Kind == GpuKind.CpuAccelerator ? GpuGemmVersion.V0Naive : Gemm.Current;
        Memory = new GpuAllocator(gpu.Accelerator, name,
            // The CPU accelerator reports host memory; a test-sized default keeps a runaway loop from swapping.
            gpu.Kind == GpuKind.CpuAccelerator ? 4L << 30 : (long)(gpu.Accelerator.MemorySize * 0.92));
    }

    /// <summary>"Cuda: NVIDIA H100 80GB HBM3 (SM_90, …), 132 MPs, 79.2 GiB, max group 1024".</summary>
    public string Description => Gpu.Describe();

    /// <summary>Milliseconds each kernel took to load on first launch (ILGPU compile + driver JIT), by kernel key.</summary>
    public IReadOnlyDictionary<string, double> KernelCompileMilliseconds => Gpu.Kernels.CompileMilliseconds;

    /// <summary>
    /// The GEMM version MatMul launches. V3 (the fastest) on GPUs; V0 on ILGPU's CPU accelerator, where a
    /// barrier costs ~50–100 µs and V3's 256-thread groups are 256 OS threads (ILGPU.md §5), so V0's
    /// barrier-free 4×4 groups are ~100× faster there. tests/Gpu/GemmTests checks every version.
    /// </summary>
    public GpuGemmVersion GemmVersion { get; set; }

    /// <summary>Waits for every queued kernel and copy (timing; launches are asynchronous).</summary>
    public void Synchronize() => Gpu.Synchronize();

    internal override Storage Allocate(int length, DType dtype) => GpuStorage.Rent(this, length, dtype);
}
