// GpuContext.cs — one ILGPU context + accelerator + kernel cache: the handle every GPU kernel in
// kernels/Gpu takes. Kinds: ILGPU's CPU accelerator (runs the GPU kernels on the CPU, one OS
// thread per group thread: slow, for tests), CUDA, OpenCL, and Best() (CUDA, then OpenCL, then CPU).
//
// Why a libcuda resolver: ILGPU imports the driver as DllImport("cuda"), and .NET then probes only
// the unversioned libcuda.so. Driver-only machines (and the GPU boxes here, whose driver is a
// read-only mount under /usr/local/nvidia) ship libcuda.so.1 only; without the resolver ILGPU
// silently finds no CUDA device. See shared/docs/ILGPU.md §7 and Recipe C.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Denoise.Kernels.Gpu;

public enum GpuKind { CpuAccelerator, Cuda, OpenCL }

public sealed class GpuContext : IDisposable
{
    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public GpuKind Kind { get; }
    public KernelCache Kernels { get; }

    /// <summary>Threads per group for the 1-D grid-stride kernels (Map, Philox, AdamW).</summary>
    public int StreamGroupSize { get; }
    /// <summary>Groups launched by the grid-stride kernels: enough to fill the device, no more.</summary>
    public int StreamGroups { get; }

    GpuContext(Context context, Accelerator accelerator, GpuKind kind)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
        Kernels = new KernelCache(accelerator);
        if (kind == GpuKind.CpuAccelerator)
        {
            // Every group thread is an OS thread: few, small groups keep the CPU accelerator fast (ILGPU.md §5).
            StreamGroupSize = 16;
            StreamGroups = 2;
        }
        else
        {
            StreamGroupSize = 256;
            // 8 resident groups of 256 threads per SM saturate memory bandwidth on sm_80/sm_90.
            StreamGroups = Math.Max(1, accelerator.NumMultiprocessors) * 8;
        }
    }

    /// <summary>ILGPU's CPU accelerator, in Parallel mode (never Sequential, even under a debugger), one
    /// multiprocessor, groups of up to <paramref name="maxGroupSize"/> threads (the GEMM kernels need 256).</summary>
    public static GpuContext CpuAccelerator(int maxGroupSize = 256)
    {
        var device = new CPUDevice(numThreadsPerWarp: 16, numWarpsPerMultiprocessor: Math.Max(1, maxGroupSize / 16), numMultiprocessors: 1);
        var ctx = Context.Create(b => b.CPU(device).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        var acc = ctx.GetCPUDevice(0).CreateCPUAccelerator(ctx, CPUAcceleratorMode.Parallel);
        return new GpuContext(ctx, acc, GpuKind.CpuAccelerator);
    }

    /// <summary>CUDA device <paramref name="index"/>; throws with the list of what exists when it is missing.</summary>
    public static GpuContext Cuda(int index = 0)
    {
        RegisterCudaResolver();
        var ctx = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var devices = ctx.GetCudaDevices();
        if (index < 0 || index >= devices.Count)
        {
            ctx.Dispose();
            throw new InvalidOperationException($"GpuContext.Cuda({index}): {devices.Count} CUDA device(s) found" +
                " (is the NVIDIA driver's libcuda.so.1 on the loader path?).");
        }
        return new GpuContext(ctx, devices[index].CreateAccelerator(ctx), GpuKind.Cuda);
    }

    /// <summary>OpenCL device <paramref name="index"/>. ILGPU needs OpenCL 2.0 with generic address space:
    /// in practice Intel and AMD GPUs (NVIDIA's and PoCL's OpenCL are rejected, ILGPU.md §6).</summary>
    public static GpuContext OpenCL(int index = 0)
    {
        var ctx = Context.Create(b => b.OpenCL().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var devices = ctx.GetCLDevices();
        if (index < 0 || index >= devices.Count)
        {
            ctx.Dispose();
            throw new InvalidOperationException($"GpuContext.OpenCL({index}): {devices.Count} usable OpenCL device(s) found.");
        }
        return new GpuContext(ctx, devices[index].CreateAccelerator(ctx), GpuKind.OpenCL);
    }

    /// <summary>Number of CUDA devices ILGPU can see (0 without a driver).</summary>
    public static int CudaDeviceCount()
    {
        RegisterCudaResolver();
        try
        {
            using var ctx = Context.Create(b => b.Cuda());
            return ctx.GetCudaDevices().Count;
        }
        catch (Exception) { return 0; }
    }

    /// <summary>CUDA if present, else OpenCL, else the CPU accelerator.</summary>
    public static GpuContext Best()
    {
        if (CudaDeviceCount() > 0) return Cuda(0);
        try { return OpenCL(0); } catch (Exception) { }
        return CpuAccelerator();
    }

    /// <summary>"Cuda: NVIDIA H100 80GB HBM3 (sm_90, ISA 8.8, driver 13.0), 132 SMs, 79.2 GiB".</summary>
    public string Describe()
    {
        string extra = Accelerator is CudaAccelerator cuda
            ? $" ({cuda.Architecture}, {cuda.InstructionSet}, driver {cuda.DriverVersion})" : "";
        return $"{Kind}: {Accelerator.Name}{extra}, {Accelerator.NumMultiprocessors} MPs, " +
               $"{Accelerator.MemorySize / (1024.0 * 1024 * 1024):F1} GiB, max group {Accelerator.MaxNumThreadsPerGroup}";
    }

    /// <summary>Grid for a 1-D grid-stride kernel over <paramref name="n"/> items.</summary>
    internal KernelConfig StreamConfig(long n)
    {
        long groups = Math.Clamp((n + StreamGroupSize - 1) / StreamGroupSize, 1, StreamGroups);
        return new KernelConfig((int)groups, StreamGroupSize);
    }

    public void Synchronize() => Accelerator.Synchronize();

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }

    static int resolverRegistered;

    /// <summary>Lets ILGPU's DllImport("cuda") find libcuda.so.1 (once per process; ILGPU sets its own
    /// resolver only on WSL, and SetDllImportResolver may be called once per assembly).</summary>
    public static void RegisterCudaResolver()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref resolverRegistered, 1) != 0) return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, ResolveCuda);
        }
        catch (InvalidOperationException) { /* someone (ILGPU on WSL) already registered one */ }
    }

    static IntPtr ResolveCuda(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != CudaAPI.LibNameLinux) return IntPtr.Zero;   // "cuda"; OpenCL etc. use the default probe
        foreach (var candidate in new[] { "libcuda.so", "libcuda.so.1" })
            if (NativeLibrary.TryLoad(candidate, assembly, path, out var h)) return h;
        foreach (var file in new[] { "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                                     "/usr/local/cuda/compat/libcuda.so.1", "/usr/lib64/libcuda.so.1" })
            if (NativeLibrary.TryLoad(file, out var h)) return h;
        return IntPtr.Zero;
    }
}

/// <summary>
/// Loads each kernel once per accelerator and keeps the launcher (ILGPU caches launchers only weakly,
/// issue #192). The load is where ILGPU compiles (and, on CUDA, where the driver JITs the PTX), so
/// its time is recorded as the kernel's first-launch compile time.
/// </summary>
public sealed class KernelCache(Accelerator accelerator)
{
    readonly Dictionary<string, Delegate> launchers = new();
    readonly Dictionary<string, double> compileMs = new();
    readonly Lock gate = new();

    public Accelerator Accelerator => accelerator;

    /// <summary>Milliseconds each kernel took to load (compile + driver JIT), by cache key.</summary>
    public IReadOnlyDictionary<string, double> CompileMilliseconds
    {
        get { lock (gate) return new Dictionary<string, double>(compileMs); }
    }

    /// <summary>Every launcher loaded so far, by cache key (e.g. to dump its PTX with KernelUtil.GetCompiledKernel).</summary>
    public IReadOnlyDictionary<string, Delegate> Launchers
    {
        get { lock (gate) return new Dictionary<string, Delegate>(launchers); }
    }

    public TLauncher Get<TLauncher>(string key, Func<Accelerator, TLauncher> load) where TLauncher : Delegate
    {
        lock (gate)
        {
            if (launchers.TryGetValue(key, out var d)) return (TLauncher)d;
            var sw = Stopwatch.StartNew();
            var launcher = load(accelerator);
            compileMs[key] = sw.Elapsed.TotalMilliseconds;
            launchers[key] = launcher;
            return launcher;
        }
    }
}
