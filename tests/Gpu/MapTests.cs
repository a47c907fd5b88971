// MapTests.cs — Gpu.Map kernels against the CPU SIMD loops of kernels/Cpu/Map.cs over the same op structs.
// On the CPU accelerator the kernel calls the op's scalar .NET member, so results are bit-identical
// to the CPU's scalar tail; the CPU's vector body may differ by an ulp for transcendentals
// (Vector256.Exp vs MathF.Exp), hence the 1e-6 relative tolerance. CUDA math is approximate (≈2 ulp).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Map
using Denoise.Kernels.Gpu;
using Denoise.Kernels.Ops;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using CpuMap = Denoise.Kernels.Cpu.Map;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class MapTests
{
    // 1 and 17: shorter than / not a multiple of a group; 1000: several grid strides on the CPU accelerator.
    static readonly int[] Sizes = [1, 17, 1000];

    static void AssertClose(float[] expected, float[] actual, float rtol, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (float.IsNaN(e)) { Assert.That(a, Is.NaN, $"{what}[{i}]"); continue; }
            Assert.That(a, Is.EqualTo(e).Within(rtol * MathF.Max(1f, MathF.Abs(e))), $"{what}[{i}] of {expected.Length}");
        }
    }

    static void CheckUnary<TOp>(GpuContext gpu, float lo, float hi, float rtol) where TOp : struct, IUnaryOp
    {
        foreach (int n in Sizes)
        {
            var x = GpuDevices.Rand(n, n, lo, hi);
            var expected = new float[n];
            CpuMap.Unary<TOp>(x, expected);
            using var dx = gpu.Accelerator.Allocate1D(x);
            using var dy = gpu.Accelerator.Allocate1D<float>(n);
            Map.Unary<TOp>(gpu, dx.View, dy.View);
            AssertClose(expected, dy.GetAsArray1D(), rtol, $"{typeof(TOp).Name}");
        }
    }

    static void CheckBinary<TOp>(GpuContext gpu, float lo, float hi, float rtol) where TOp : struct, IBinaryOp
    {
        foreach (int n in Sizes)
        {
            var a = GpuDevices.Rand(n, n, lo, hi);
            var b = GpuDevices.Rand(n + 1, n, lo, hi);
            float s = 0.75f;
            var e1 = new float[n]; var e2 = new float[n]; var e3 = new float[n];
            CpuMap.Binary<TOp>(a, b, e1);
            CpuMap.BinaryScalarB<TOp>(a, s, e2);
            CpuMap.BinaryScalarA<TOp>(s, b, e3);
            using var da = gpu.Accelerator.Allocate1D(a);
            using var db = gpu.Accelerator.Allocate1D(b);
            using var dy = gpu.Accelerator.Allocate1D<float>(n);
            Map.Binary<TOp>(gpu, da.View, db.View, dy.View);
            AssertClose(e1, dy.GetAsArray1D(), rtol, $"{typeof(TOp).Name}(a, b)");
            Map.BinaryScalarB<TOp>(gpu, da.View, s, dy.View);
            AssertClose(e2, dy.GetAsArray1D(), rtol, $"{typeof(TOp).Name}(a, s)");
            Map.BinaryScalarA<TOp>(gpu, s, db.View, dy.View);
            AssertClose(e3, dy.GetAsArray1D(), rtol, $"{typeof(TOp).Name}(s, b)");
        }
    }

    static float Tol(string kind) => kind == GpuDevices.Cuda ? 1e-5f : 1e-6f;

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void UnaryOps_MatchCpuMap(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        float t = Tol(kind);
        CheckUnary<Neg>(gpu, -3, 3, t); CheckUnary<Abs>(gpu, -3, 3, t); CheckUnary<Sign>(gpu, -3, 3, t);
        CheckUnary<Exp>(gpu, -3, 3, t); CheckUnary<Log>(gpu, 0.1f, 3, t); CheckUnary<Sqrt>(gpu, 0, 3, t);
        CheckUnary<Rsqrt>(gpu, 0.1f, 3, t); CheckUnary<Sin>(gpu, -3, 3, t); CheckUnary<Cos>(gpu, -3, 3, t);
        CheckUnary<Sigmoid>(gpu, -5, 5, t); CheckUnary<Tanh>(gpu, -3, 3, t); CheckUnary<Relu>(gpu, -3, 3, t);
        CheckUnary<SiLU>(gpu, -5, 5, t); CheckUnary<Softplus>(gpu, -5, 5, t); CheckUnary<Erf>(gpu, -3, 3, t);
        CheckUnary<GeluExact>(gpu, -3, 3, t); CheckUnary<GeluTanh>(gpu, -3, 3, t);
    }

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void BinaryOps_MatchCpuMap_WithTensorAndScalarOperands(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        float t = Tol(kind);
        CheckBinary<Add>(gpu, -3, 3, t); CheckBinary<Sub>(gpu, -3, 3, t); CheckBinary<Mul>(gpu, -3, 3, t);
        CheckBinary<Div>(gpu, 0.5f, 3, t); CheckBinary<Pow>(gpu, 0.1f, 3, t); CheckBinary<Maximum>(gpu, -3, 3, t);
        CheckBinary<Minimum>(gpu, -3, 3, t); CheckBinary<Greater>(gpu, -3, 3, t); CheckBinary<LeakyRelu>(gpu, -3, 3, t);
    }

    [Test]
    public void Unary_MismatchedLengths_ThrowsNamingBoth()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        using var dx = gpu.Accelerator.Allocate1D<float>(5);
        using var dy = gpu.Accelerator.Allocate1D<float>(4);
        var e = Assert.Throws<ArgumentException>(() => Map.Unary<Exp>(gpu, dx.View, dy.View))!;
        Assert.That(e.Message, Does.Contain("Unary<Exp>").And.Contain("5").And.Contain("4"));
    }
}
