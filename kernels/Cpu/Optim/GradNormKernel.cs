// GradNormKernel.cs — reductions and clamps used by gradient clipping (engine/Optim/GradClip.cs).
//
//   SumOfSquares(x)      Σ x², accumulated in double: each float is widened before squaring, so
//                        every square is exact and only the (double) additions round. With many
//                        millions of gradient elements a float accumulator would lose ~3 digits.
//   Clamp(x, lo, hi)     x ← min(max(x, lo), hi) in place (clip_grad_value_).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static class GradNormKernel
{
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<double> a0 = Vector512<double>.Zero, a1 = Vector512<double>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
                var lo = Vector512.WidenLower(v); var hi = Vector512.WidenUpper(v);
                a0 += lo * lo; a1 += hi * hi;
            }
            total = Vector512.Sum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> a0 = Vector256<double>.Zero, a1 = Vector256<double>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var lo = Vector256.WidenLower(v); var hi = Vector256.WidenUpper(v);
                a0 += lo * lo; a1 += hi * hi;
            }
            total = Vector256.Sum(a0 + a1);
        }
        for (; i < n; i++) { double v = Unsafe.Add(ref xr, i); total += v * v; }
        return total;
    }

    public static void Clamp(Span<float> x, float lo, float hi)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> l = Vector512.Create(lo), h = Vector512.Create(hi);
            for (; i <= n - 16; i += 16)
                Vector512.Min(Vector512.Max(Vector512.LoadUnsafe(ref xr, (nuint)i), l), h).StoreUnsafe(ref xr, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> l = Vector256.Create(lo), h = Vector256.Create(hi);
            for (; i <= n - 8; i += 8)
                Vector256.Min(Vector256.Max(Vector256.LoadUnsafe(ref xr, (nuint)i), l), h).StoreUnsafe(ref xr, (nuint)i);
        }
        for (; i < n; i++) { ref float v = ref Unsafe.Add(ref xr, i); v = MathF.Min(MathF.Max(v, lo), hi); }
    }
}
