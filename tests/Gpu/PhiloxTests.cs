// PhiloxTests.cs — the GPU Philox kernels reproduce kernels/Random/Philox.cs: same seed, offset and
// layout give the same stream. Bits and uniforms are compared bit for bit on every device; normals
// bit for bit on the CPU accelerator (it runs .NET's MathF) and within 2e-6 absolute on CUDA, whose
// log/sin/cos are different float implementations (|z| ≤ 5.8, so that is a few ulp).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Philox
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using CpuPhilox = Denoise.Kernels.Philox;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class PhiloxTests
{
    // 1, 3: a cut-short single block; 17: a partial last block; 1001: many blocks and grid strides.
    static readonly int[] Sizes = [1, 3, 17, 1001];
    const ulong Seed = 0x299f31d0_a4093822, Offset = 0xffff_fffe;   // the offset crosses the 32-bit counter word

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void FillBitsAndUniform_AreBitIdenticalToCpu(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (int n in Sizes)
        {
            var bits = new uint[n];
            CpuPhilox.FillBits(bits, Seed, Offset);
            using var db = gpu.Accelerator.Allocate1D<uint>(n);
            PhiloxKernel.FillBits(gpu, db.View, Seed, Offset);
            Assert.That(db.GetAsArray1D(), Is.EqualTo(bits), $"bits, n={n}");

            var u = new float[n];
            CpuPhilox.FillUniform(u, Seed, Offset);
            using var du = gpu.Accelerator.Allocate1D<float>(n);
            PhiloxKernel.FillUniform(gpu, du.View, Seed, Offset);
            Assert.That(Bits(du.GetAsArray1D()), Is.EqualTo(Bits(u)), $"uniform, n={n}");
        }
    }

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void FillNormal_MatchesCpu(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (int n in Sizes)
        {
            var z = new float[n];
            CpuPhilox.FillNormal(z, Seed, Offset);
            using var dz = gpu.Accelerator.Allocate1D<float>(n);
            PhiloxKernel.FillNormal(gpu, dz.View, Seed, Offset);
            var g = dz.GetAsArray1D();
            if (kind == GpuDevices.IlgpuCpu) Assert.That(Bits(g), Is.EqualTo(Bits(z)), $"normal, n={n}");
            else Assert.That(g, Is.EqualTo(z).Within(2e-6f), $"normal, n={n}");
        }
    }

    static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();
}
