// Map.cs — element-wise GPU kernels over the op structs of kernels/Ops (the same structs the CPU SIMD
// loops in Cpu/Map.cs use): an op is declared once and its scalar member TOp.Apply(float) is what
// ILGPU compiles here (Vector256/512 members cannot compile for a GPU and are never called).
//
// Shape of every kernel: explicitly grouped, grid-stride, with the stride hoisted into a local.
// A fixed grid (GpuContext.StreamGroups) covers any n; recomputing Grid.DimX·Group.DimX inside the
// loop costs ~100x on the CPU accelerator (thread-static lookups, ILGPU.md §5). The loop condition
// is the only bound check: there is no separate per-element check.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Map
using Denoise.Kernels.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class Map
{
    // ---- kernels -------------------------------------------------------------------------------

    public static void UnaryKernel<TOp>(ArrayView<float> x, ArrayView<float> y) where TOp : struct, IUnaryOp
    {
        int n = x.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = TOp.Apply(x[i]);
    }

    public static void BinaryKernel<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        int n = a.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = TOp.Apply(a[i], b[i]);
    }

    /// <summary>y = op(a, s): the scalar on the right (x − 3, leaky_relu(x, slope), x^p).</summary>
    public static void BinaryScalarBKernel<TOp>(ArrayView<float> a, float s, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        int n = a.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = TOp.Apply(a[i], s);
    }

    /// <summary>y = op(s, b): the scalar on the left (3 − x, 2^x).</summary>
    public static void BinaryScalarAKernel<TOp>(float s, ArrayView<float> b, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        int n = b.IntLength, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = TOp.Apply(s, b[i]);
    }

    // ---- launchers (asynchronous on the accelerator's default stream) ---------------------------

    public static void Unary<TOp>(GpuContext gpu, ArrayView<float> x, ArrayView<float> y) where TOp : struct, IUnaryOp
    {
        Check("Unary", typeof(TOp), x.Length, y.Length);
        var k = gpu.Kernels.Get($"Map.Unary<{typeof(TOp).Name}>",
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(UnaryKernel<TOp>));
        k(gpu.StreamConfig(x.Length), x, y);
    }

    public static void Binary<TOp>(GpuContext gpu, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        Check("Binary", typeof(TOp), a.Length, y.Length, b.Length);
        var k = gpu.Kernels.Get($"Map.Binary<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(BinaryKernel<TOp>));
        k(gpu.StreamConfig(a.Length), a, b, y);
    }

    public static void BinaryScalarB<TOp>(GpuContext gpu, ArrayView<float> a, float s, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        Check("BinaryScalarB", typeof(TOp), a.Length, y.Length);
        var k = gpu.Kernels.Get($"Map.BinaryScalarB<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<float>>(BinaryScalarBKernel<TOp>));
        k(gpu.StreamConfig(a.Length), a, s, y);
    }

    public static void BinaryScalarA<TOp>(GpuContext gpu, float s, ArrayView<float> b, ArrayView<float> y) where TOp : struct, IBinaryOp
    {
        Check("BinaryScalarA", typeof(TOp), b.Length, y.Length);
        var k = gpu.Kernels.Get($"Map.BinaryScalarA<{typeof(TOp).Name}>",
            acc => acc.LoadStreamKernel<float, ArrayView<float>, ArrayView<float>>(BinaryScalarAKernel<TOp>));
        k(gpu.StreamConfig(b.Length), s, b, y);
    }

    static void Check(string what, Type op, long n, long ny, long nb = -1)
    {
        if (n > int.MaxValue)
            throw new ArgumentException($"Gpu.Map.{what}<{op.Name}>: {n} elements exceed the 32-bit index range of this kernel.");
        if (ny != n || (nb >= 0 && nb != n))
            throw new ArgumentException($"Gpu.Map.{what}<{op.Name}>: lengths differ (input {n}{(nb >= 0 ? $", second input {nb}" : "")}, output {ny}).");
    }
}
