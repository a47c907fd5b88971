// GroupNorm.cs — GroupNorm (Wu & He, "Group Normalization", 2018), optionally followed by SiLU
// (Elfwing et al. 2018; the GroupNorm→SiLU pair of every diffusion UNet ResBlock), forward and
// backward, fused into two passes over memory.
//
// x (N, C, S) with S the product of the spatial dims, G groups of Cg = C/G channels, M = Cg·S:
//   mean, rstd per (n, g):  mean = Σx/M,  rstd = 1/√(Σ(x − mean)²/M + eps)      (biased variance)
//   x̂ = (x − mean)·rstd,  h = γ_c·x̂ + β_c,  y = h  or  y = silu(h) = h·σ(h)
// Backward (closed form of the chain rule through mean and rstd), dh = dy or dy·silu'(h),
// silu'(h) = σ(h)·(1 + h·(1 − σ(h))):
//   dx = rstd·(γ_c·dh − mean_g(γ·dh) − x̂·mean_g(γ·dh·x̂)),   dγ_c = Σ_{n,s} dh·x̂,   dβ_c = Σ_{n,s} dh
// Optional shift (N·C): the norm of x + shift_{n,c} (broadcast over S), for a UNet ResBlock's time
// embedding, which was a separate broadcast add writing and re-reading the whole activation (M1: 9 of
// them a step, serial at any thread count). Every version takes it by moving each channel's centre,
// x + shift_c − mean = x − (mean − shift_c); the backward also returns dshift_{n,c} = Σ_s dx.
//
// Versions, each kept and tested against V0 (tests/Kernels/NormTests.cs). K3 (64,64,14,14) G=8 +
// SiLU, forward+backward, 2 threads (NormBench; the composed engine path took ~25 ms):
//   V0Reference  plain loops in double, one (n, g) after another; the reference
//   V1Fused      per (n, g): one pass for the statistics (float vector sums per channel row,
//                combined in double), one pass that normalises, applies γ, β and SiLU. Backward:
//                pass 1 writes dh into dx and sums dh and dh·x̂ per channel, pass 2 turns dx into
//                the gradient with one FMA chain. Vector512 with a scalar tail. Parts are ranges of
//                n fixed by the shape; dγ/dβ are per-(n, c) partials summed over n in order, so
//                1 and 2 threads give the same bits. Vector256 where AVX-512 is missing; without
//                SiLU, pass 1 does not copy dy into dx (pass 2 reads dy).
//   V2Overlap    V1's passes (still one read of x and dy from memory: the group is re-read from L1),
//                without V1's scalar row tails: a row of S = 196 (14×14) or 49 (7×7) floats left
//                4 or 1 floats a row to scalar code, and with SiLU each was a scalar MathF.Exp —
//                as costly as the whole vector row. V2 ends each row with one more vector at S − 16
//                that overlaps the previous one: the forward and pass 1's dh store write the same
//                values twice; pass 1's sums mask the overlapping lanes out; pass 2, which overwrites
//                dh in place, loads its last vector before the loop and stores it after. The
//                statistics sum the whole group as one contiguous run. With SiLU, backward pass 1
//                is split per group: a plain map writes dh into dx, then a cheap L1 loop takes
//                the sums (in one loop with the sums, the SiLU part cost twice the separate SiLU
//                backward map). Rows shorter than 16 and CPUs without AVX-512 run V1.  (current)
//                K3 kernels, 1 thread CPU time, V1 → V2 (bench `versions --groupnorm --cpu-time`,
//                load 7): 64×64×14×14 bwd+SiLU 0.58 → 0.44 ms, fwd+SiLU 0.43 → 0.36, bwd 0.22 → 0.20;
//                64×128×7×7 bwd+SiLU 0.44 → 0.33, fwd+SiLU 0.23 → 0.23, bwd 0.17 → 0.15.
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Norm
// Bench: dotnet run -c Release --project bench -- --filter '*NormBench*'
//        dotnet run -c Release --project bench -- versions --groupnorm [--cpu-time]
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

/// <summary>Kernel versions of the norms in this folder; V2Overlap exists for GroupNorm only (the others run V1 for it).</summary>
public enum NormVersion { V0Reference, V1Fused, V2Overlap }

/// <summary>Shape of a GroupNorm: N samples, C channels of S elements each, G groups; γ/β optional (empty spans).</summary>
public readonly record struct GroupNormShape(int N, int C, int S, int G, float Eps, bool SiLU)
{
    public int Cg => C / G;
    public long M => (long)Cg * S;
    public long Length => (long)N * C * S;
}

public static unsafe class GroupNorm
{
    /// <summary>y = [silu](γ·x̂ + β); mean, rstd (N·G) are saved for the backward.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd, in GroupNormShape s)
        => Forward(NormVersion.V2Overlap, x, gamma, beta, default, y, mean, rstd, s);

    /// <summary>dx, and dγ/dβ (C) when those spans are not empty.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, in GroupNormShape s)
        => Backward(NormVersion.V2Overlap, x, dy, gamma, beta, default, mean, rstd, dx, dgamma, dbeta, default, s);

    public static void Forward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd, in GroupNormShape s)
        => Forward(v, x, gamma, beta, default, y, mean, rstd, s);

    public static void Backward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, in GroupNormShape s)
        => Backward(v, x, dy, gamma, beta, default, mean, rstd, dx, dgamma, dbeta, default, s);

    /// <summary>
    /// The norm of x + shift, shift (N·C) one value per sample and channel broadcast over S (a UNet
    /// ResBlock's time embedding, otherwise a separate broadcast add that wrote and re-read the whole
    /// activation). Empty shift: the plain norm. Inside the kernels the shift only moves each channel's
    /// centre: x + shift_c − mean = x − (mean − shift_c).
    /// </summary>
    public static void Forward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> shift, Span<float> y, Span<float> mean, Span<float> rstd, in GroupNormShape s)
    {
        Check(s, x.Length, y.Length, gamma.Length, beta.Length, mean.Length, rstd.Length);
        CheckShift(s, shift.Length, "shift");
        fixed (float* px = x, pg = gamma, pb = beta, psh = shift, py = y, pm = mean, pr = rstd)
        {
            var job = new FwdJob(s, px, gamma.IsEmpty ? null : pg, beta.IsEmpty ? null : pb, shift.IsEmpty ? null : psh, py, pm, pr, v, Parts(s));
            if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        }
    }

    /// <summary>As the plain backward for x + shift; dshift (N·C, when not empty) = Σ_S dx, the shift's gradient.</summary>
    public static void Backward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> shift, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta,
        Span<float> dshift, in GroupNormShape s)
    {
        Check(s, x.Length, dx.Length, gamma.Length, beta.Length, mean.Length, rstd.Length);
        CheckShift(s, shift.Length, "shift");
        CheckShift(s, dshift.Length, "dshift");
        if (dy.Length != x.Length) throw new ArgumentException($"group_norm backward: dy has {dy.Length} elements, x {x.Length}.");
        bool wantAffine = !dgamma.IsEmpty || !dbeta.IsEmpty;
        if ((!dgamma.IsEmpty && dgamma.Length != s.C) || (!dbeta.IsEmpty && dbeta.Length != s.C))
            throw new ArgumentException($"group_norm backward: dγ/dβ must have C = {s.C} elements.");
        // Per-(n, c) partial sums of dh·x̂ and dh, reduced over n in order below.
        int nc = s.N * s.C;
        double[]? part = wantAffine ? ArrayPool<double>.Shared.Rent(2 * Math.Max(nc, 1)) : null;
        try
        {
            fixed (float* px = x, pdy = dy, pg = gamma, pb = beta, psh = shift, pm = mean, pr = rstd, pdx = dx, pds = dshift)
            fixed (double* pp = part)
            {
                var job = new BwdJob(s, px, pdy, gamma.IsEmpty ? null : pg, beta.IsEmpty ? null : pb, shift.IsEmpty ? null : psh, pm, pr, pdx,
                    dshift.IsEmpty ? null : pds, pp, pp == null ? null : pp + nc, v, Parts(s));
                if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
            }
            if (part != null)
                for (int c = 0; c < s.C; c++)
                {
                    double sg = 0, sb = 0;
                    for (int n = 0; n < s.N; n++) { sg += part[n * s.C + c]; sb += part[nc + n * s.C + c]; }
                    if (!dgamma.IsEmpty) dgamma[c] = (float)sg;
                    if (!dbeta.IsEmpty) dbeta[c] = (float)sb;
                }
        }
        finally { if (part != null) ArrayPool<double>.Shared.Return(part); }
    }

    // Ranges of samples; ≥ 2^15 elements a part so the pool hand-off (~1 µs) is noise. Shape only.
    static int Parts(in GroupNormShape s) =>
        s.N <= 1 ? 1 : (int)Math.Clamp(s.Length / (1 << 15), 1, Math.Min(s.N, 16));

    readonly struct FwdJob(GroupNormShape s, float* x, float* gamma, float* beta, float* shift, float* y, float* mean, float* rstd,
        NormVersion v, int parts) : IParallelJob
    {
        public int Parts => parts;
        public void Execute(int part)
        {
            var (n0, count) = WorkerPool.Range(s.N, parts, part);
            for (int n = n0; n < n0 + count; n++)
                for (int g = 0; g < s.G; g++)
                {
                    if (v == NormVersion.V0Reference) V0Forward(s, x, gamma, beta, shift, y, mean, rstd, n, g);
                    else if (v == NormVersion.V2Overlap && V2Applies(s)) V2Forward(s, x, gamma, beta, shift, y, mean, rstd, n, g);
                    else V1Forward(s, x, gamma, beta, shift, y, mean, rstd, n, g);
                }
        }
    }

    readonly struct BwdJob(GroupNormShape s, float* x, float* dy, float* gamma, float* beta, float* shift, float* mean, float* rstd,
        float* dx, float* dshift, double* pg, double* pb, NormVersion v, int parts) : IParallelJob
    {
        public int Parts => parts;
        public void Execute(int part)
        {
            var (n0, count) = WorkerPool.Range(s.N, parts, part);
            for (int n = n0; n < n0 + count; n++)
                for (int g = 0; g < s.G; g++)
                {
                    if (v == NormVersion.V0Reference) V0Backward(s, x, dy, gamma, beta, shift, mean, rstd, dx, dshift, pg, pb, n, g);
                    else if (v == NormVersion.V2Overlap && V2Applies(s)) V2Backward(s, x, dy, gamma, beta, shift, mean, rstd, dx, dshift, pg, pb, n, g);
                    else V1Backward(s, x, dy, gamma, beta, shift, mean, rstd, dx, dshift, pg, pb, n, g);
                }
        }
    }

    // ───────────────────── V0: plain loops in double ─────────────────────

    static void V0Forward(in GroupNormShape s, float* x, float* gamma, float* beta, float* shift, float* y, float* mean, float* rstd, int n, int g)
    {
        long M = s.M, o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        double sum = 0, sq = 0;
        for (long i = 0; i < M; i++) sum += X(s, x, shift, n, g, o, i);
        double m = M == 0 ? 0 : sum / M;
        for (long i = 0; i < M; i++) { double d = X(s, x, shift, n, g, o, i) - m; sq += d * d; }
        double r = 1 / Math.Sqrt((M == 0 ? 0 : sq / M) + s.Eps);
        mean[n * s.G + g] = (float)m; rstd[n * s.G + g] = (float)r;
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            double ga = gamma == null ? 1 : gamma[c], be = beta == null ? 0 : beta[c];
            for (int j = 0; j < s.S; j++)
            {
                long i = o + (long)cl * s.S + j;
                double h = (X(s, x, shift, n, g, o, (long)cl * s.S + j) - m) * r * ga + be;
                y[i] = (float)(s.SiLU ? h / (1 + Math.Exp(-h)) : h);
            }
        }
    }

    /// <summary>x + shift at offset i of group (n, g) (group start o), in double.</summary>
    static double X(in GroupNormShape s, float* x, float* shift, int n, int g, long o, long i) =>
        (double)x[o + i] + (shift == null ? 0 : shift[n * s.C + g * s.Cg + (int)(i / s.S)]);

    static void V0Backward(in GroupNormShape s, float* x, float* dy, float* gamma, float* beta, float* shift, float* mean, float* rstd,
        float* dx, float* dshift, double* pg, double* pb, int n, int g)
    {
        long M = s.M, o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        double m = mean[n * s.G + g], r = rstd[n * s.G + g], sum1 = 0, sum2 = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int cl = 0; cl < s.Cg; cl++)
            {
                int c = g * s.Cg + cl;
                double ga = gamma == null ? 1 : gamma[c], be = beta == null ? 0 : beta[c], sd = 0, sdx = 0, sdxi = 0;
                for (int j = 0; j < s.S; j++)
                {
                    long i = o + (long)cl * s.S + j;
                    double xh = (X(s, x, shift, n, g, o, (long)cl * s.S + j) - m) * r, dh = dy[i];
                    if (s.SiLU) { double h = xh * ga + be, sg = 1 / (1 + Math.Exp(-h)); dh *= sg * (1 + h * (1 - sg)); }
                    if (pass == 0) { sd += dh; sdx += dh * xh; }
                    else { double d = r * (ga * dh - sum1 / M - xh * sum2 / M); dx[i] = (float)d; sdxi += d; }
                }
                if (pass == 1 && dshift != null) dshift[n * s.C + c] = (float)sdxi;
                if (pass == 0)
                {
                    sum1 += ga * sd; sum2 += ga * sdx;
                    if (pg != null) { pg[n * s.C + c] = sdx; pb[n * s.C + c] = sd; }
                }
            }
    }

    // ───────────────────── V1: two fused vector passes ─────────────────────

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Forward(in GroupNormShape s, float* x, float* gamma, float* beta, float* shift, float* y, float* mean, float* rstd, int n, int g)
    {
        long M = s.M, o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        int S = s.S;
        float* sh = shift == null ? null : shift + n * s.C + g * s.Cg;   // this group's shifts
        // Pass 1: mean, then the centred sum of squares (the group is a few KiB: the re-read hits L1/L2).
        double sum = 0;
        for (int cl = 0; cl < s.Cg; cl++) sum += RowSum(x + o + (long)cl * S, S) + (sh == null ? 0 : (double)S * sh[cl]);
        float m = M == 0 ? 0f : (float)(sum / M);
        double sq = 0;
        for (int cl = 0; cl < s.Cg; cl++) sq += RowCentredSquares(x + o + (long)cl * S, S, sh == null ? m : m - sh[cl]);
        float r = (float)(1 / Math.Sqrt((M == 0 ? 0 : sq / M) + s.Eps));
        mean[n * s.G + g] = m; rstd[n * s.G + g] = r;
        // Pass 2: y = (x − mean)·a + β with a = rstd·γ, then SiLU. (Folding mean into the bias,
        // x·a + (β − mean·a), saves a subtraction but cancels catastrophically when |mean| ≫ std.)
        float m0 = m;
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            m = sh == null ? m0 : m0 - sh[cl];                          // this channel's centre
            float a = r * (gamma == null ? 1f : gamma[c]), b = beta == null ? 0f : beta[c];
            float* xr = x + o + (long)cl * S, yr = y + o + (long)cl * S;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> av = Vector512.Create(a), bv = Vector512.Create(b), mv = Vector512.Create(m);
                for (; j <= S - 16; j += 16)
                {
                    var h = Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, av, bv);
                    if (s.SiLU) h = Ops.SiLU.Apply(h);
                    h.Store(yr + j);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> av = Vector256.Create(a), bv = Vector256.Create(b), mv = Vector256.Create(m);
                for (; j <= S - 8; j += 8)
                {
                    var h = Vector256.FusedMultiplyAdd(Vector256.Load(xr + j) - mv, av, bv);
                    if (s.SiLU) h = Ops.SiLU.Apply(h);
                    h.Store(yr + j);
                }
            }
            for (; j < S; j++)
            {
                float h = MathF.FusedMultiplyAdd(xr[j] - m, a, b);
                yr[j] = s.SiLU ? Ops.SiLU.Apply(h) : h;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Backward(in GroupNormShape s, float* x, float* dy, float* gamma, float* beta, float* shift, float* mean, float* rstd,
        float* dx, float* dshift, double* pg, double* pb, int n, int g)
    {
        long M = s.M, o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        int S = s.S;
        float m0 = mean[n * s.G + g], r = rstd[n * s.G + g], m;
        float* sh = shift == null ? null : shift + n * s.C + g * s.Cg;
        double sum1 = 0, sum2 = 0;
        // Pass 1: dh (into dx), Σ dh and Σ dh·x̂ per channel.
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            m = sh == null ? m0 : m0 - sh[cl];
            float ga = gamma == null ? 1f : gamma[c], be = beta == null ? 0f : beta[c];
            float* xr = x + o + (long)cl * S, dyr = dy + o + (long)cl * S, dr = dx + o + (long)cl * S;
            float sd = 0, sdx = 0;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> mv = Vector512.Create(m), rv = Vector512.Create(r), gv = Vector512.Create(ga), bv = Vector512.Create(be);
                Vector512<float> sdv = Vector512<float>.Zero, sdxv = Vector512<float>.Zero;
                for (; j <= S - 16; j += 16)
                {
                    var xh = (Vector512.Load(xr + j) - mv) * rv;
                    var d = Vector512.Load(dyr + j);
                    if (s.SiLU)
                    {
                        var h = Vector512.FusedMultiplyAdd(xh, gv, bv);
                        var sg = Vector512<float>.One / (Vector512<float>.One + Ops.VecMath.Exp(-h));
                        d *= sg * Vector512.FusedMultiplyAdd(h, Vector512<float>.One - sg, Vector512<float>.One);
                    }
                    if (s.SiLU) d.Store(dr + j);   // without SiLU, dh is dy: pass 2 reads it from there
                    sdv += d;
                    sdxv = Vector512.FusedMultiplyAdd(d, xh, sdxv);
                }
                sd = Vector512.Sum(sdv); sdx = Vector512.Sum(sdxv);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> mv = Vector256.Create(m), rv = Vector256.Create(r), gv = Vector256.Create(ga), bv = Vector256.Create(be);
                Vector256<float> sdv = Vector256<float>.Zero, sdxv = Vector256<float>.Zero;
                for (; j <= S - 8; j += 8)
                {
                    var xh = (Vector256.Load(xr + j) - mv) * rv;
                    var d = Vector256.Load(dyr + j);
                    if (s.SiLU)
                    {
                        var h = Vector256.FusedMultiplyAdd(xh, gv, bv);
                        var sg = Vector256<float>.One / (Vector256<float>.One + Ops.VecMath.Exp(-h));
                        d *= sg * Vector256.FusedMultiplyAdd(h, Vector256<float>.One - sg, Vector256<float>.One);
                        d.Store(dr + j);
                    }
                    sdv += d;
                    sdxv = Vector256.FusedMultiplyAdd(d, xh, sdxv);
                }
                sd = Vector256.Sum(sdv); sdx = Vector256.Sum(sdxv);
            }
            for (; j < S; j++)
            {
                float xh = (xr[j] - m) * r, d = dyr[j];
                if (s.SiLU)
                {
                    float h = MathF.FusedMultiplyAdd(xh, ga, be), sg = 1f / (1f + MathF.Exp(-h));
                    d *= sg * MathF.FusedMultiplyAdd(h, 1f - sg, 1f);
                }
                if (s.SiLU) dr[j] = d;
                sd += d; sdx = MathF.FusedMultiplyAdd(d, xh, sdx);
            }
            sum1 += (double)ga * sd; sum2 += (double)ga * sdx;
            if (pg != null) { pg[n * s.C + c] = sdx; pb[n * s.C + c] = sd; }
        }
        // Pass 2: dx = rstd·(γ·dh − c1 − x̂·c2) = dh·A + (x − mean)·B + D, per channel constants.
        float c1 = (float)(sum1 / M), c2 = (float)(sum2 / M);
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            m = sh == null ? m0 : m0 - sh[cl];
            float A = r * (gamma == null ? 1f : gamma[c]), B = -r * r * c2, D = -r * c1;
            float* xr = x + o + (long)cl * S, dr = dx + o + (long)cl * S, hr = (s.SiLU ? dx : dy) + o + (long)cl * S;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> av = Vector512.Create(A), bv = Vector512.Create(B), dv = Vector512.Create(D), mv = Vector512.Create(m);
                for (; j <= S - 16; j += 16)
                    Vector512.FusedMultiplyAdd(Vector512.Load(hr + j), av,
                        Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, bv, dv)).Store(dr + j);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> av = Vector256.Create(A), bv = Vector256.Create(B), dv = Vector256.Create(D), mv = Vector256.Create(m);
                for (; j <= S - 8; j += 8)
                    Vector256.FusedMultiplyAdd(Vector256.Load(hr + j), av,
                        Vector256.FusedMultiplyAdd(Vector256.Load(xr + j) - mv, bv, dv)).Store(dr + j);
            }
            for (; j < S; j++) dr[j] = MathF.FusedMultiplyAdd(hr[j], A, MathF.FusedMultiplyAdd(xr[j] - m, B, D));
            if (dshift != null) dshift[n * s.C + c] = (float)RowSum(dr, S);
        }
    }

    // ───────────────────── V2: V1 with overlapping last vectors instead of scalar tails ─────────────────────

    static bool V2Applies(in GroupNormShape s) => Vector512.IsHardwareAccelerated && s.S >= 16;

    /// <summary>Lanes ≥ 16 − rem set: the part of the row's last (overlapping) vector not covered by the loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> TailMask(int rem) =>
        Vector512.GreaterThanOrEqual(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(16 - rem)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V2Forward(in GroupNormShape s, float* x, float* gamma, float* beta, float* shift, float* y, float* mean, float* rstd, int n, int g)
    {
        long o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        int S = s.S, M = (int)s.M;
        bool silu = s.SiLU;
        float* sh = shift == null ? null : shift + n * s.C + g * s.Cg;
        float m, r;
        if (sh == null)
        {
            m = (float)(GroupSum(x + o, M) / M);
            r = (float)(1 / Math.Sqrt(GroupCentredSquares(x + o, M, m) / M + s.Eps));
        }
        else
        {
            // Shifted rows: Σ(x + shift_c) = Σx + S·Σshift_c, squares row by row about mean − shift_c.
            double sum = GroupSum(x + o, M);
            for (int cl = 0; cl < s.Cg; cl++) sum += (double)S * sh[cl];
            m = (float)(sum / M);
            double sq = 0;
            for (int cl = 0; cl < s.Cg; cl++) sq += RowCentredSquares(x + o + (long)cl * S, S, m - sh[cl]);
            r = (float)(1 / Math.Sqrt(sq / M + s.Eps));
        }
        mean[n * s.G + g] = m; rstd[n * s.G + g] = r;
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            var mv = Vector512.Create(sh == null ? m : m - sh[cl]);
            Vector512<float> av = Vector512.Create(r * (gamma == null ? 1f : gamma[c])), bv = Vector512.Create(beta == null ? 0f : beta[c]);
            float* xr = x + o + (long)cl * S, yr = y + o + (long)cl * S;
            // j runs to S − 16 inclusive: when S % 16 ≠ 0 the last step overlaps and rewrites equal values.
            for (int j = 0; ; j = Math.Min(j + 16, S - 16))
            {
                var h = Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, av, bv);
                if (silu) h = Ops.SiLU.Apply(h);
                h.Store(yr + j);
                if (j == S - 16) break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V2Backward(in GroupNormShape s, float* x, float* dy, float* gamma, float* beta, float* shift, float* mean, float* rstd,
        float* dx, float* dshift, double* pg, double* pb, int n, int g)
    {
        long o = ((long)n * s.C + (long)g * s.Cg) * s.S;
        int S = s.S, full = S & ~15, rem = S - full;
        bool silu = s.SiLU;
        float m = mean[n * s.G + g], r = rstd[n * s.G + g];
        float* sh = shift == null ? null : shift + n * s.C + g * s.Cg;
        var mv = Vector512.Create(m); var rv = Vector512.Create(r);
        var one = Vector512<float>.One;
        var tailMask = TailMask(rem);
        double sum1 = 0, sum2 = 0;
        // Pass 1a (SiLU only): dh = dy·silu'(h) into dx, as a plain map over each row (the overlapping
        // last vector rewrites equal values). Kept apart from the sums: measured with them in one loop,
        // the SiLU part cost twice the separate SiLU backward map.
        if (silu)
            for (int cl = 0; cl < s.Cg; cl++)
            {
                int c = g * s.Cg + cl;
                Vector512<float> gv = Vector512.Create(gamma == null ? 1f : gamma[c]), bv = Vector512.Create(beta == null ? 0f : beta[c]);
                if (sh != null) mv = Vector512.Create(m - sh[cl]);
                float* xr = x + o + (long)cl * S, dyr = dy + o + (long)cl * S, dr = dx + o + (long)cl * S;
                for (int j = 0; ; j = Math.Min(j + 16, S - 16))
                {
                    var h = Vector512.FusedMultiplyAdd((Vector512.Load(xr + j) - mv) * rv, gv, bv);
                    var sg = one / (one + Ops.VecMath.Exp(-h));
                    (Vector512.Load(dyr + j) * (sg * Vector512.FusedMultiplyAdd(h, one - sg, one))).Store(dr + j);
                    if (j == S - 16) break;
                }
            }
        // Pass 1b: Σ dh and Σ dh·x̂ per channel (dh from dx with SiLU, else dy; the group is in L1).
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            float ga = gamma == null ? 1f : gamma[c];
            if (sh != null) mv = Vector512.Create(m - sh[cl]);
            float* xr = x + o + (long)cl * S, hr = (silu ? dx : dy) + o + (long)cl * S;
            Vector512<float> sdv = default, sdxv = default;
            int j = 0;
            for (; j < full; j += 16)
            {
                var d = Vector512.Load(hr + j);
                sdv += d;
                sdxv = Vector512.FusedMultiplyAdd(d, (Vector512.Load(xr + j) - mv) * rv, sdxv);
            }
            if (rem != 0)   // the last vector starts at S − 16 and counts only its new lanes
            {
                var d = Vector512.Load(hr + S - 16) & tailMask;
                sdv += d;
                sdxv = Vector512.FusedMultiplyAdd(d, (Vector512.Load(xr + S - 16) - mv) * rv, sdxv);
            }
            float sd = Vector512.Sum(sdv), sdx = Vector512.Sum(sdxv);
            sum1 += (double)ga * sd; sum2 += (double)ga * sdx;
            if (pg != null) { pg[n * s.C + c] = sdx; pb[n * s.C + c] = sd; }
        }
        // Pass 2: dx = dh·A + (x − mean)·B + D per channel. With SiLU dh lives in dx and is overwritten
        // here, so the overlapping last vector is computed before the loop and stored after it.
        float c1 = (float)(sum1 / s.M), c2 = (float)(sum2 / s.M);
        var bB = Vector512.Create(-r * r * c2); var dD = Vector512.Create(-r * c1);
        for (int cl = 0; cl < s.Cg; cl++)
        {
            int c = g * s.Cg + cl;
            var av = Vector512.Create(r * (gamma == null ? 1f : gamma[c]));
            if (sh != null) mv = Vector512.Create(m - sh[cl]);
            float* xr = x + o + (long)cl * S, dr = dx + o + (long)cl * S, hr = (silu ? dx : dy) + o + (long)cl * S;
            var tail = rem == 0 ? default
                : Vector512.FusedMultiplyAdd(Vector512.Load(hr + S - 16), av, Vector512.FusedMultiplyAdd(Vector512.Load(xr + S - 16) - mv, bB, dD));
            if (dshift == null)
                for (int j = 0; j < full; j += 16)
                    Vector512.FusedMultiplyAdd(Vector512.Load(hr + j), av,
                        Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, bB, dD)).Store(dr + j);
            else
            {
                // The shift's gradient Σ_S dx, summed as it is stored (the tail's new lanes only).
                Vector512<float> acc = rem == 0 ? default : tail & tailMask;
                for (int j = 0; j < full; j += 16)
                {
                    var d = Vector512.FusedMultiplyAdd(Vector512.Load(hr + j), av, Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, bB, dD));
                    d.Store(dr + j);
                    acc += d;
                }
                dshift[n * s.C + c] = Vector512.Sum(acc);
            }
            if (rem != 0) tail.Store(dr + S - 16);
        }
    }

    /// <summary>Σ of a contiguous group, two vector chains then the scalar tail, in double at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static double GroupSum(float* p, int len)
    {
        Vector512<float> a0 = default, a1 = default;
        int j = 0;
        for (; j <= len - 32; j += 32) { a0 += Vector512.Load(p + j); a1 += Vector512.Load(p + j + 16); }
        for (; j <= len - 16; j += 16) a0 += Vector512.Load(p + j);
        double sum = Vector512.Sum(a0 + a1);
        for (; j < len; j++) sum += p[j];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static double GroupCentredSquares(float* p, int len, float m)
    {
        Vector512<float> a0 = default, a1 = default, mv = Vector512.Create(m);
        int j = 0;
        for (; j <= len - 32; j += 32)
        {
            var d0 = Vector512.Load(p + j) - mv; var d1 = Vector512.Load(p + j + 16) - mv;
            a0 = Vector512.FusedMultiplyAdd(d0, d0, a0); a1 = Vector512.FusedMultiplyAdd(d1, d1, a1);
        }
        for (; j <= len - 16; j += 16) { var d = Vector512.Load(p + j) - mv; a0 = Vector512.FusedMultiplyAdd(d, d, a0); }
        double sum = Vector512.Sum(a0 + a1);
        for (; j < len; j++) { double d = p[j] - m; sum += d * d; }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double RowSum(float* p, int len)
    {
        int j = 0;
        float tail = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            for (; j <= len - 16; j += 16) acc += Vector512.Load(p + j);
            tail = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; j <= len - 8; j += 8) acc += Vector256.Load(p + j);
            tail = Vector256.Sum(acc);
        }
        double sum = tail;
        for (; j < len; j++) sum += p[j];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double RowCentredSquares(float* p, int len, float m)
    {
        int j = 0;
        float tail = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> acc = Vector512<float>.Zero, mv = Vector512.Create(m);
            for (; j <= len - 16; j += 16) { var d = Vector512.Load(p + j) - mv; acc = Vector512.FusedMultiplyAdd(d, d, acc); }
            tail = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> acc = Vector256<float>.Zero, mv = Vector256.Create(m);
            for (; j <= len - 8; j += 8) { var d = Vector256.Load(p + j) - mv; acc = Vector256.FusedMultiplyAdd(d, d, acc); }
            tail = Vector256.Sum(acc);
        }
        double sum = tail;
        for (; j < len; j++) { double d = p[j] - m; sum += d * d; }
        return sum;
    }

    static void CheckShift(in GroupNormShape s, int len, string name)
    {
        if (len != 0 && len != s.N * s.C)
            throw new ArgumentException($"group_norm: {name} has {len} elements, expected N·C = {s.N * s.C} (one per sample and channel) or none, for {s}.");
    }

    static void Check(in GroupNormShape s, int xLen, int yLen, int gLen, int bLen, int mLen, int rLen)
    {
        if (s.N < 0 || s.C < 1 || s.S < 0 || s.G < 1 || s.C % s.G != 0)
            throw new ArgumentException($"group_norm: invalid shape {s}.");
        if (xLen != s.Length || yLen != s.Length)
            throw new ArgumentException($"group_norm: x/y have {xLen}/{yLen} elements, expected N·C·S = {s.Length} for {s}.");
        if ((gLen != 0 && gLen != s.C) || (bLen != 0 && bLen != s.C))
            throw new ArgumentException($"group_norm: γ/β have {gLen}/{bLen} elements, expected C = {s.C} or none.");
        if (mLen < s.N * s.G || rLen < s.N * s.G)
            throw new ArgumentException($"group_norm: mean/rstd need N·G = {s.N * s.G} elements.");
    }
}
