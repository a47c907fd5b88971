// SgdKernel.cs — the SGD (momentum, dampening, Nesterov, L2 weight decay) update as one fused pass.
//
// Math: torch.optim.SGD's documented algorithm (Sutskever et al., "On the importance of
// initialization and momentum in deep learning", 2013, for the Nesterov form). Per element:
//   1. g ← g + wd · p
//   2. momentum ≠ 0:  b ← first ? g : μ · b + (1 − dampening) · g      (the buffer starts as the
//                     first gradient — no dampening — exactly like PyTorch)
//                     d ← nesterov ? g + μ · b : b
//      momentum = 0:  d ← g   (buf may be empty)
//   3. p ← p − lr · d
// Vector512 / Vector256 loops and the scalar tail do the same IEEE operations in the same order.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static class SgdKernel
{
    /// <summary>One SGD step in place; <paramref name="buf"/> is the momentum buffer (empty when momentum is 0),
    /// <paramref name="firstStep"/> initialises it to the (decayed) gradient.</summary>
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> buf,
        float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        int n = p.Length;
        if (g.Length != n) throw new ArgumentException($"SgdKernel.Step: lengths p={n}, g={g.Length} must match.");
        bool useMomentum = momentum != 0f;
        if (useMomentum && buf.Length != n)
            throw new ArgumentException($"SgdKernel.Step: momentum buffer has length {buf.Length}, expected {n}.");
        // The flags are loop-invariant, so their branches predict perfectly; the loop stays memory bound.
        float keep = momentum, add = 1f - dampening;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float br = ref MemoryMarshal.GetReference(buf);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> wdV = Vector512.Create(weightDecay), muV = Vector512.Create(momentum), lrV = Vector512.Create(lr),
                keepV = Vector512.Create(keep), addV = Vector512.Create(add);
            for (; i <= n - 16; i += 16)
            {
                nuint k = (nuint)i;
                var pv = Vector512.LoadUnsafe(ref pr, k);
                var gv = Vector512.LoadUnsafe(ref gr, k);
                if (weightDecay != 0f) gv += wdV * pv;
                var d = gv;
                if (useMomentum)
                {
                    // First step: b = g exactly, selected rather than computed as 0·b + g, so nothing is read from b.
                    var b = firstStep ? gv : keepV * Vector512.LoadUnsafe(ref br, k) + addV * gv;
                    b.StoreUnsafe(ref br, k);
                    d = nesterov ? gv + muV * b : b;
                }
                (pv - lrV * d).StoreUnsafe(ref pr, k);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> wdV = Vector256.Create(weightDecay), muV = Vector256.Create(momentum), lrV = Vector256.Create(lr),
                keepV = Vector256.Create(keep), addV = Vector256.Create(add);
            for (; i <= n - 8; i += 8)
            {
                nuint k = (nuint)i;
                var pv = Vector256.LoadUnsafe(ref pr, k);
                var gv = Vector256.LoadUnsafe(ref gr, k);
                if (weightDecay != 0f) gv += wdV * pv;
                var d = gv;
                if (useMomentum)
                {
                    var b = firstStep ? gv : keepV * Vector256.LoadUnsafe(ref br, k) + addV * gv;
                    b.StoreUnsafe(ref br, k);
                    d = nesterov ? gv + muV * b : b;
                }
                (pv - lrV * d).StoreUnsafe(ref pr, k);
            }
        }
        for (; i < n; i++)
        {
            float pv = Unsafe.Add(ref pr, i);
            float gv = Unsafe.Add(ref gr, i);
            if (weightDecay != 0f) gv += weightDecay * pv;
            float d = gv;
            if (useMomentum)
            {
                ref float b = ref Unsafe.Add(ref br, i);
                b = firstStep ? gv : keep * b + add * gv;
                d = nesterov ? gv + momentum * b : b;
            }
            Unsafe.Add(ref pr, i) = pv - lr * d;
        }
    }
}
