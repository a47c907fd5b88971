// The one SIMD loop per arity. Every element-wise op on the CPU runs through here:
//   Map.Unary<TOp>(x, y)             y[i] = op(x[i])
//   Map.Binary<TOp>(a, b, y)         y[i] = op(a[i], b[i])
//   Map.BinaryScalarB<TOp>(a, s, y)  y[i] = op(a[i], s)   (broadcast of a scalar or a stride-0 axis)
//   Map.BinaryScalarA<TOp>(s, b, y)  y[i] = op(s, b[i])
// Vector512 when the CPU accelerates it (AVX-512), else Vector256, then a scalar tail.
// Spans may alias (y == x) for in-place use: each vector is loaded before its store.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Denoise.Kernels.Ops;

namespace Denoise.Kernels.Cpu;

public static class Map
{
    public static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOp
    {
        int n = CheckLengths(x.Length, y.Length);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref xr, i));
    }

    public static void Binary<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(a.Length, y.Length);
        CheckLengths(b.Length, y.Length);
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref ar, (nuint)i), Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref ar, i), Unsafe.Add(ref br, i));
    }

    public static void BinaryScalarB<TOp>(ReadOnlySpan<float> a, float s, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(a.Length, y.Length);
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref ar, (nuint)i), sv).StoreUnsafe(ref yr, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref ar, (nuint)i), sv).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref ar, i), s);
    }

    public static void BinaryScalarA<TOp>(float s, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(b.Length, y.Length);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
                TOp.Apply(sv, Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                TOp.Apply(sv, Vector256.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(s, Unsafe.Add(ref br, i));
    }

    static int CheckLengths(int input, int output)
    {
        if (input != output) throw new ArgumentException($"Map: input length {input} != output length {output}.");
        return output;
    }
}
