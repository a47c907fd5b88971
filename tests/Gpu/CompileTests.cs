// CompileTests.cs — every GPU kernel (KernelCatalog.All) compiles to PTX for sm_80+ and to OpenCL C
// with no GPU and no CUDA/OpenCL library present, through ILGPU's backends and capability contexts
// (shared/docs/ILGPU.md Recipe A). A kernel using something a GPU backend cannot translate fails here, in CI.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Compile
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

// The two backends compile in parallel (separate contexts): each takes seconds for the GEMM kernels.
[TestFixture, Parallelizable(ParallelScope.Children)]
public class CompileTests
{
    static EntryPointDescription EntryPoint(System.Reflection.MethodInfo m) =>
        EntryPointDescription.FromExplicitlyGroupedKernel(m);

    [Test]
    public void EveryKernel_CompilesToPtx_ForSm90_WithoutADevice()
    {
        using var ctx = Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms());
        var arch = CudaArchitecture.SM_90;   // ILGPU 1.5.3 caps the emitted .target at sm_80 (ILGPU.md §3)
        using var ptx = new PTXBackend(ctx, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        var failures = new List<string>();
        int n = 0;
        foreach (var (name, method) in KernelCatalog.All())
        {
            try
            {
                var compiled = (PTXCompiledKernel)ptx.Compile(EntryPoint(method), default);
                // Register tiles must stay in registers: local memory here means a tile spilled to .local.
                if (compiled.PTXAssembly.Contains("ld.local")) failures.Add($"{name}: uses .local memory");
                Assert.That(compiled.PTXAssembly, Does.Contain(".entry"), name);
                n++;
            }
            catch (Exception e) { failures.Add($"{name}: {e.GetType().Name}: {e.Message}"); }
        }
        Assert.That(failures, Is.Empty, string.Join("\n", failures));
        TestContext.Out.WriteLine($"{n} kernels compiled to PTX");
    }

    [Test]
    public void EveryKernel_CompilesToOpenCLC_ForANonIntelVendor()
    {
        // No kernel uses warp shuffles (ILGPU translates them to OpenCL only for Intel), so every
        // kernel must build for AMD too; the capability context claims fp16/fp64/int64 atomics and subgroups.
        using var ctx = Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms());
        using var cl = new CLBackend(ctx, new CLCapabilityContext(true, true, true, true, true), CLDeviceVendor.AMD, CLCVersion.CL20);
        var failures = new List<string>();
        foreach (var (name, method) in KernelCatalog.All())
        {
            try
            {
                var compiled = (CLCompiledKernel)cl.Compile(EntryPoint(method), default);
                Assert.That(compiled.Source, Does.Contain("kernel"), name);
            }
            catch (Exception e) { failures.Add($"{name}: {e.GetType().Name}: {e.Message}"); }
        }
        Assert.That(failures, Is.Empty, string.Join("\n", failures));
    }
}
