// RmspropKernel.cs — the RMSprop update (optionally centered, with momentum) as one fused pass.
//
// Math: Hinton, Lecture 6e "rmsprop" (Coursera, 2012); the centered form is Graves, "Generating
// Sequences With Recurrent Neural Networks" (2013), eq. 38–45. Written as torch.optim.RMSprop:
//   1. g  ← g + wd · p
//   2. s  ← α · s + (1 − α) · g²
//   3. centered: ḡ ← ḡ + (1 − α)(g − ḡ);  a ← √(s − ḡ²) + eps      else a ← √s + eps
//   4. momentum > 0: b ← μ · b + g / a;  p ← p − lr · b
//      else          p ← p − lr · g / a
// gAvg / buf are empty when not centered / no momentum. Vector and scalar paths do the same
// IEEE operations in the same order.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static class RmspropKernel
{
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> sqAvg, Span<float> gAvg, Span<float> buf,
        float lr, float alpha, float eps, float weightDecay, float momentum)
    {
        int n = p.Length;
        bool centered = !gAvg.IsEmpty, useMomentum = !buf.IsEmpty;
        if (g.Length != n || sqAvg.Length != n || (centered && gAvg.Length != n) || (useMomentum && buf.Length != n))
            throw new ArgumentException($"RmspropKernel.Step: lengths p={n}, g={g.Length}, sqAvg={sqAvg.Length}, gAvg={gAvg.Length}, buf={buf.Length} do not match.");
        float w = 1f - alpha;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float sr = ref MemoryMarshal.GetReference(sqAvg);
        ref float ar = ref MemoryMarshal.GetReference(gAvg);
        ref float br = ref MemoryMarshal.GetReference(buf);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> wdV = Vector512.Create(weightDecay), alV = Vector512.Create(alpha), wV = Vector512.Create(w),
                epsV = Vector512.Create(eps), muV = Vector512.Create(momentum), lrV = Vector512.Create(lr);
            for (; i <= n - 16; i += 16)
            {
                nuint k = (nuint)i;
                var pv = Vector512.LoadUnsafe(ref pr, k);
                var gv = Vector512.LoadUnsafe(ref gr, k);
                if (weightDecay != 0f) gv += wdV * pv;
                var sv = alV * Vector512.LoadUnsafe(ref sr, k) + wV * (gv * gv);
                sv.StoreUnsafe(ref sr, k);
                Vector512<float> a;
                if (centered)
                {
                    var av = Vector512.LoadUnsafe(ref ar, k);
                    av += wV * (gv - av);
                    av.StoreUnsafe(ref ar, k);
                    a = Vector512.Sqrt(sv - av * av) + epsV;
                }
                else a = Vector512.Sqrt(sv) + epsV;
                if (useMomentum)
                {
                    var b = muV * Vector512.LoadUnsafe(ref br, k) + gv / a;
                    b.StoreUnsafe(ref br, k);
                    (pv - lrV * b).StoreUnsafe(ref pr, k);
                }
                else (pv - lrV * (gv / a)).StoreUnsafe(ref pr, k);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> wdV = Vector256.Create(weightDecay), alV = Vector256.Create(alpha), wV = Vector256.Create(w),
                epsV = Vector256.Create(eps), muV = Vector256.Create(momentum), lrV = Vector256.Create(lr);
            for (; i <= n - 8; i += 8)
            {
                nuint k = (nuint)i;
                var pv = Vector256.LoadUnsafe(ref pr, k);
                var gv = Vector256.LoadUnsafe(ref gr, k);
                if (weightDecay != 0f) gv += wdV * pv;
                var sv = alV * Vector256.LoadUnsafe(ref sr, k) + wV * (gv * gv);
                sv.StoreUnsafe(ref sr, k);
                Vector256<float> a;
                if (centered)
                {
                    var av = Vector256.LoadUnsafe(ref ar, k);
                    av += wV * (gv - av);
                    av.StoreUnsafe(ref ar, k);
                    a = Vector256.Sqrt(sv - av * av) + epsV;
                }
                else a = Vector256.Sqrt(sv) + epsV;
                if (useMomentum)
                {
                    var b = muV * Vector256.LoadUnsafe(ref br, k) + gv / a;
                    b.StoreUnsafe(ref br, k);
                    (pv - lrV * b).StoreUnsafe(ref pr, k);
                }
                else (pv - lrV * (gv / a)).StoreUnsafe(ref pr, k);
            }
        }
        for (; i < n; i++)
        {
            float pv = Unsafe.Add(ref pr, i);
            float gv = Unsafe.Add(ref gr, i);
            if (weightDecay != 0f) gv += weightDecay * pv;
            ref float sv = ref Unsafe.Add(ref sr, i);
            sv = alpha * sv + w * (gv * gv);
            float a;
            if (centered)
            {
                ref float av = ref Unsafe.Add(ref ar, i);
                av += w * (gv - av);
                a = MathF.Sqrt(sv - av * av) + eps;
            }
            else a = MathF.Sqrt(sv) + eps;
            if (useMomentum)
            {
                ref float b = ref Unsafe.Add(ref br, i);
                b = momentum * b + gv / a;
                Unsafe.Add(ref pr, i) = pv - lr * b;
            }
            else Unsafe.Add(ref pr, i) = pv - lr * (gv / a);
        }
    }
}
