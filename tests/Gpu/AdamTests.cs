// AdamTests.cs — the fused GPU Adam/AdamW step against kernels/Cpu/Optim/AdamKernel.cs over three steps.
// The CPU accelerator performs the same IEEE operations in the same order: bit-identical. CUDA may
// contract multiply-adds into FMA (ptxas default), so it is compared to 1e-6 relative.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Adam
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using CpuAdam = Denoise.Kernels.Cpu.AdamKernel;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class AdamTests
{
    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void AdamWAndAmsgrad_MatchCpuKernel_OverThreeSteps(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (bool amsgrad in new[] { false, true })
        {
            const int n = 37;
            float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, wd = 0.1f;
            var p = GpuDevices.Rand(1, n); var m = new float[n]; var v = new float[n]; var vMax = new float[amsgrad ? n : 0];
            using var dp = gpu.Accelerator.Allocate1D(p);
            using var dm = gpu.Accelerator.Allocate1D(m);
            using var dv = gpu.Accelerator.Allocate1D(v);
            using var dx = gpu.Accelerator.Allocate1D<float>(n);
            dx.MemSetToZero();
            for (int t = 1; t <= 3; t++)
            {
                var g = GpuDevices.Rand(100 + t, n);
                float stepSize = (float)(lr / (1 - Math.Pow(beta1, t))), bc2 = (float)Math.Sqrt(1 - Math.Pow(beta2, t));
                float decay = 1f - lr * wd;   // AdamW: decoupled decay, no L2 term
                CpuAdam.Step(p, g, m, v, vMax, beta1, beta2, eps, 0f, decay, stepSize, bc2);
                using var dg = gpu.Accelerator.Allocate1D(g);
                AdamKernel.Step(gpu, dp.View, dg.View, dm.View, dv.View, amsgrad ? dx.View : dx.View.SubView(0, 0),
                    new AdamStep(beta1, beta2, eps, 0f, decay, stepSize, bc2, amsgrad));
            }
            foreach (var (cpu, dev, name) in new[] { (p, dp, "p"), (m, dm, "m"), (v, dv, "v") })
            {
                var got = dev.GetAsArray1D();
                if (kind == GpuDevices.IlgpuCpu) Assert.That(got, Is.EqualTo(cpu), $"{name}, amsgrad={amsgrad}");
                else for (int i = 0; i < n; i++)
                        Assert.That(got[i], Is.EqualTo(cpu[i]).Within(1e-6f * MathF.Max(1e-3f, MathF.Abs(cpu[i]))), $"{name}[{i}]");
            }
        }
    }
}
