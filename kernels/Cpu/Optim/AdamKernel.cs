// AdamKernel.cs — the Adam / AdamW parameter update as one fused pass over (p, g, m, v[, vMax]).
//
// Math: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2015), Algorithm 1, in the
// form torch.optim.Adam/AdamW write it (single-tensor path); AdamW's decoupled weight decay is
// Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (2019). Per element, step t:
//   1. p ← p · decay                        AdamW: decay = 1 − lr·wd;  Adam: decay = 1
//   2. g ← g + l2 · p                       Adam's L2 term (l2 = wd);   AdamW: l2 = 0
//   3. m ← m + (1 − β1)(g − m)              torch's exp_avg.lerp_(g, 1 − β1)
//   4. v ← β2 · v + (1 − β2) · g²
//   5. v̂ ← amsgrad ? (vMax ← max(vMax, v)) : v
//   6. p ← p − stepSize · m / (√v̂ / bc2Sqrt + eps)
// with stepSize = lr / (1 − β1^t) and bc2Sqrt = √(1 − β2^t) computed by the caller in double.
//
// Why one pass: the update is memory bound (5–6 streams of 4 bytes per element, ~2 flops per
// byte), so the unfused tensor form — 8 elementwise ops, each reading and writing a whole
// tensor — moves ~4× the bytes and allocates temporaries every step. Here nothing is allocated.
//
// The vector loops (Vector512 when accelerated, else Vector256) and the scalar tail perform the
// same IEEE operations in the same order with no FMA contraction, so the result of an element
// does not depend on which loop handled it.
//
// Tensors of ≥ ParallelThreshold elements run as ranges on the WorkerPool (same bits on any thread count).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static class AdamKernel
{
    /// <summary>
    /// One Adam/AdamW step in place. <paramref name="vMax"/> is empty unless amsgrad. All other
    /// spans must have p's length. See the file header for the formula.
    /// </summary>
    public static unsafe void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> vMax,
        float beta1, float beta2, float eps, float l2, float decay, float stepSize, float bc2Sqrt)
    {
        int n = p.Length;
        if (g.Length != n || m.Length != n || v.Length != n)
            throw new ArgumentException($"AdamKernel.Step: lengths p={n}, g={g.Length}, m={m.Length}, v={v.Length} must match.");
        bool amsgrad = !vMax.IsEmpty;
        if (amsgrad && vMax.Length != n)
            throw new ArgumentException($"AdamKernel.Step: vMax has length {vMax.Length}, expected {n}.");
        // Large tensors (a UNet's 3×3 conv weights: 74K–295K floats) in ranges on the pool: the update is
        // memory bound and one core does not saturate memory. Every element is computed alone, the same
        // way in the vector loops and the scalar tail, so the split does not change any bit.
        int parts = n < ParallelThreshold || WorkerPool.Threads == 1 ? 1 : WorkerPool.PartsFor(n, ParallelThreshold / 2);
        if (parts == 1) { StepRange(p, g, m, v, vMax, beta1, beta2, eps, l2, decay, stepSize, bc2Sqrt); return; }
        fixed (float* pp = p, pg = g, pm = m, pv = v, px = vMax)
            WorkerPool.Run(new Job(pp, pg, pm, pv, amsgrad ? px : null, n, parts, beta1, beta2, eps, l2, decay, stepSize, bc2Sqrt), parts);
    }

    /// <summary>Tensors of at least this many elements are split over the WorkerPool.</summary>
    public static int ParallelThreshold { get; set; } = 1 << 16;

    unsafe readonly struct Job(float* p, float* g, float* m, float* v, float* vMax, int n, int parts,
        float beta1, float beta2, float eps, float l2, float decay, float stepSize, float bc2Sqrt) : IParallelJob
    {
        public void Execute(int part)
        {
            var (i0, len) = WorkerPool.Range(n, parts, part);
            StepRange(new Span<float>(p + i0, len), new ReadOnlySpan<float>(g + i0, len), new Span<float>(m + i0, len),
                new Span<float>(v + i0, len), vMax == null ? default : new Span<float>(vMax + i0, len),
                beta1, beta2, eps, l2, decay, stepSize, bc2Sqrt);
        }
    }

    static void StepRange(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> vMax,
        float beta1, float beta2, float eps, float l2, float decay, float stepSize, float bc2Sqrt)
    {
        int n = p.Length;
        bool amsgrad = !vMax.IsEmpty;
        float w1 = 1f - beta1, w2 = 1f - beta2;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float vr = ref MemoryMarshal.GetReference(v);
        ref float xr = ref MemoryMarshal.GetReference(vMax);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> dV = Vector512.Create(decay), l2V = Vector512.Create(l2), w1V = Vector512.Create(w1),
                b2V = Vector512.Create(beta2), w2V = Vector512.Create(w2), bcV = Vector512.Create(bc2Sqrt),
                epsV = Vector512.Create(eps), ssV = Vector512.Create(stepSize);
            for (; i <= n - 16; i += 16)
            {
                nuint k = (nuint)i;
                var pv = Vector512.LoadUnsafe(ref pr, k) * dV;
                var gv = Vector512.LoadUnsafe(ref gr, k) + l2V * pv;
                var mv = Vector512.LoadUnsafe(ref mr, k);
                mv += w1V * (gv - mv);
                var vv = b2V * Vector512.LoadUnsafe(ref vr, k) + w2V * (gv * gv);
                mv.StoreUnsafe(ref mr, k);
                vv.StoreUnsafe(ref vr, k);
                if (amsgrad)
                {
                    vv = Vector512.Max(Vector512.LoadUnsafe(ref xr, k), vv);
                    vv.StoreUnsafe(ref xr, k);
                }
                var denom = Vector512.Sqrt(vv) / bcV + epsV;
                (pv - ssV * (mv / denom)).StoreUnsafe(ref pr, k);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> dV = Vector256.Create(decay), l2V = Vector256.Create(l2), w1V = Vector256.Create(w1),
                b2V = Vector256.Create(beta2), w2V = Vector256.Create(w2), bcV = Vector256.Create(bc2Sqrt),
                epsV = Vector256.Create(eps), ssV = Vector256.Create(stepSize);
            for (; i <= n - 8; i += 8)
            {
                nuint k = (nuint)i;
                var pv = Vector256.LoadUnsafe(ref pr, k) * dV;
                var gv = Vector256.LoadUnsafe(ref gr, k) + l2V * pv;
                var mv = Vector256.LoadUnsafe(ref mr, k);
                mv += w1V * (gv - mv);
                var vv = b2V * Vector256.LoadUnsafe(ref vr, k) + w2V * (gv * gv);
                mv.StoreUnsafe(ref mr, k);
                vv.StoreUnsafe(ref vr, k);
                if (amsgrad)
                {
                    vv = Vector256.Max(Vector256.LoadUnsafe(ref xr, k), vv);
                    vv.StoreUnsafe(ref xr, k);
                }
                var denom = Vector256.Sqrt(vv) / bcV + epsV;
                (pv - ssV * (mv / denom)).StoreUnsafe(ref pr, k);
            }
        }
        for (; i < n; i++)
        {
            float pv = Unsafe.Add(ref pr, i) * decay;
            float gv = Unsafe.Add(ref gr, i) + l2 * pv;
            ref float mv = ref Unsafe.Add(ref mr, i);
            mv += w1 * (gv - mv);
            ref float vv = ref Unsafe.Add(ref vr, i);
            vv = beta2 * vv + w2 * (gv * gv);
            float vhat = vv;
            if (amsgrad)
            {
                ref float xv = ref Unsafe.Add(ref xr, i);
                xv = MathF.Max(xv, vv);
                vhat = xv;
            }
            float denom = MathF.Sqrt(vhat) / bc2Sqrt + eps;
            Unsafe.Add(ref pr, i) = pv - stepSize * (mv / denom);
        }
    }
}
