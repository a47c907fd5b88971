// LayerNorm.cs — LayerNorm (Ba, Kiros & Hinton, "Layer Normalization", 2016) forward and backward
// over rows: x (R, D) normalised over its last D elements, γ/β (D) optional.
//   mean, rstd per row:  mean = Σx/D,  rstd = 1/√(Σ(x − mean)²/D + eps)            (biased variance)
//   x̂ = (x − mean)·rstd,  y = γ·x̂ + β
// Backward (the chain rule through mean and rstd in closed form), dx̂ = γ·dy:
//   dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),   dγ = Σ_rows dy·x̂,   dβ = Σ_rows dy
//
// Versions, each kept and tested against V0 (tests/Kernels/LayerNormSoftmaxTests.cs); times for M3's
// (64·128, 128) rows, 2 threads, in bench/Kernels/NormBench.cs:
//   V0Reference  plain loops in double; the reference
//   V1Fused      forward: one pass for the row's sum, one for the centred squares (the row is in L1
//                by then), one that writes y. Backward: one pass for the two row sums Σdx̂ and Σdx̂·x̂,
//                one that writes dx and adds dy·x̂, dy into this part's dγ/dβ accumulators. Vector512 /
//                Vector256 with a scalar tail. Parts are ranges of rows fixed by the shape; the parts'
//                dγ/dβ are added in part order, so 1 and 2 threads give the same bits.   (current)
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.LayerNormSoftmax
// Bench: dotnet run -c Release --project bench -- --filter '*NormBench*'
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static unsafe class LayerNorm
{
    /// <summary>y = γ·x̂ + β over rows of <paramref name="D"/>; mean and rstd (one per row) are saved for the backward.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd, int D, float eps)
        => Forward(NormVersion.V1Fused, x, gamma, beta, y, mean, rstd, D, eps);

    /// <summary>dx, and dγ/dβ (D) when those spans are not empty.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, int D)
        => Backward(NormVersion.V1Fused, x, dy, gamma, mean, rstd, dx, dgamma, dbeta, D);

    public static void Forward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd, int D, float eps)
    {
        int R = Check("layer_norm", x.Length, y.Length, gamma.Length, beta.Length, mean.Length, rstd.Length, D);
        int parts = Parts(R, D);
        fixed (float* px = x, pg = gamma, pb = beta, py = y, pm = mean, pr = rstd)
        {
            var job = new FwdJob(v, px, gamma.IsEmpty ? null : pg, beta.IsEmpty ? null : pb, py, pm, pr, R, D, eps, parts);
            if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
        }
    }

    public static void Backward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, int D)
    {
        int R = Check("layer_norm backward", x.Length, dx.Length, gamma.Length, 0, mean.Length, rstd.Length, D);
        if (dy.Length != x.Length) throw new ArgumentException($"layer_norm backward: dy has {dy.Length} elements, x {x.Length}.");
        if ((!dgamma.IsEmpty && dgamma.Length != D) || (!dbeta.IsEmpty && dbeta.Length != D))
            throw new ArgumentException($"layer_norm backward: dγ/dβ must have D = {D} elements, got {dgamma.Length}/{dbeta.Length}.");
        bool affine = !dgamma.IsEmpty || !dbeta.IsEmpty;
        int parts = Parts(R, D);
        // Per-part dγ, dβ accumulators (2·D floats a part), added in part order below.
        float[]? acc = affine ? ArrayPool<float>.Shared.Rent(2 * parts * D) : null;
        try
        {
            fixed (float* px = x, pdy = dy, pg = gamma, pm = mean, pr = rstd, pdx = dx, pacc = acc)
            {
                var job = new BwdJob(v, px, pdy, gamma.IsEmpty ? null : pg, pm, pr, pdx, pacc, R, D, parts);
                if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
            }
            if (acc != null)
                for (int j = 0; j < D; j++)
                {
                    float sg = 0, sb = 0;
                    for (int p = 0; p < parts; p++) { sg += acc[(2 * p) * D + j]; sb += acc[(2 * p + 1) * D + j]; }
                    if (!dgamma.IsEmpty) dgamma[j] = sg;
                    if (!dbeta.IsEmpty) dbeta[j] = sb;
                }
        }
        finally { if (acc != null) ArrayPool<float>.Shared.Return(acc); }
    }

    // Ranges of rows, ≥ 2^14 elements a part (a few µs of work against ~1 µs of hand-off). Shape only.
    static int Parts(int R, int D) => R <= 1 ? 1 : (int)Math.Clamp((long)R * D / (1 << 14), 1, Math.Min(R, 16));

    readonly struct FwdJob(NormVersion v, float* x, float* gamma, float* beta, float* y, float* mean, float* rstd,
        int R, int D, float eps, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (r0, count) = WorkerPool.Range(R, parts, part);
            for (int r = r0; r < r0 + count; r++)
            {
                float* xr = x + (long)r * D, yr = y + (long)r * D;
                if (v == NormVersion.V0Reference) V0Forward(xr, gamma, beta, yr, out mean[r], out rstd[r], D, eps);
                else V1Forward(xr, gamma, beta, yr, out mean[r], out rstd[r], D, eps);
            }
        }
    }

    readonly struct BwdJob(NormVersion v, float* x, float* dy, float* gamma, float* mean, float* rstd, float* dx,
        float* acc, int R, int D, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (r0, count) = WorkerPool.Range(R, parts, part);
            float* dg = acc == null ? null : acc + (long)(2 * part) * D, db = acc == null ? null : dg + D;
            if (dg != null) { new Span<float>(dg, 2 * D).Clear(); }
            for (int r = r0; r < r0 + count; r++)
            {
                long o = (long)r * D;
                if (v == NormVersion.V0Reference) V0Backward(x + o, dy + o, gamma, mean[r], rstd[r], dx + o, dg, db, D);
                else V1Backward(x + o, dy + o, gamma, mean[r], rstd[r], dx + o, dg, db, D);
            }
        }
    }

    // ───────────────────── V0: plain loops in double ─────────────────────

    static void V0Forward(float* x, float* gamma, float* beta, float* y, out float mean, out float rstd, int D, float eps)
    {
        double sum = 0, sq = 0;
        for (int j = 0; j < D; j++) sum += x[j];
        double m = sum / D;
        for (int j = 0; j < D; j++) { double d = x[j] - m; sq += d * d; }
        double r = 1 / Math.Sqrt(sq / D + eps);
        for (int j = 0; j < D; j++)
            y[j] = (float)((x[j] - m) * r * (gamma == null ? 1 : gamma[j]) + (beta == null ? 0 : beta[j]));
        mean = (float)m; rstd = (float)r;
    }

    static void V0Backward(float* x, float* dy, float* gamma, float m, float r, float* dx, float* dg, float* db, int D)
    {
        double s1 = 0, s2 = 0;
        for (int j = 0; j < D; j++)
        {
            double xh = (x[j] - (double)m) * r, dxh = dy[j] * (gamma == null ? 1.0 : gamma[j]);
            s1 += dxh; s2 += dxh * xh;
        }
        for (int j = 0; j < D; j++)
        {
            double xh = (x[j] - (double)m) * r, dxh = dy[j] * (gamma == null ? 1.0 : gamma[j]);
            dx[j] = (float)(r * (dxh - s1 / D - xh * s2 / D));
            if (dg != null) { dg[j] += (float)(dy[j] * xh); db[j] += dy[j]; }
        }
    }

    // ───────────────────── V1: fused vector passes ─────────────────────

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Forward(float* x, float* gamma, float* beta, float* y, out float mean, out float rstd, int D, float eps)
    {
        float m = D == 0 ? 0f : (float)(GroupNorm.RowSum(x, D) / D);
        float r = (float)(1 / Math.Sqrt((D == 0 ? 0 : GroupNorm.RowCentredSquares(x, D, m) / D) + eps));
        mean = m; rstd = r;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> mv = Vector512.Create(m), rv = Vector512.Create(r);
            for (; j <= D - 16; j += 16)
            {
                var h = (Vector512.Load(x + j) - mv) * rv;
                if (gamma != null) h *= Vector512.Load(gamma + j);
                if (beta != null) h += Vector512.Load(beta + j);
                h.Store(y + j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> mv = Vector256.Create(m), rv = Vector256.Create(r);
            for (; j <= D - 8; j += 8)
            {
                var h = (Vector256.Load(x + j) - mv) * rv;
                if (gamma != null) h *= Vector256.Load(gamma + j);
                if (beta != null) h += Vector256.Load(beta + j);
                h.Store(y + j);
            }
        }
        for (; j < D; j++)
        {
            float h = (x[j] - m) * r;
            if (gamma != null) h *= gamma[j];
            if (beta != null) h += beta[j];
            y[j] = h;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Backward(float* x, float* dy, float* gamma, float m, float r, float* dx, float* dg, float* db, int D)
    {
        // Pass 1: Σ dx̂ and Σ dx̂·(x − mean) (x̂ = (x − mean)·rstd, so rstd is applied once after the sum).
        float s1 = 0, s2 = 0;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> mv = Vector512.Create(m), a1 = Vector512<float>.Zero, a2 = Vector512<float>.Zero;
            for (; j <= D - 16; j += 16)
            {
                var d = Vector512.Load(dy + j);
                if (gamma != null) d *= Vector512.Load(gamma + j);
                a1 += d;
                a2 = Vector512.FusedMultiplyAdd(d, Vector512.Load(x + j) - mv, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> mv = Vector256.Create(m), a1 = Vector256<float>.Zero, a2 = Vector256<float>.Zero;
            for (; j <= D - 8; j += 8)
            {
                var d = Vector256.Load(dy + j);
                if (gamma != null) d *= Vector256.Load(gamma + j);
                a1 += d;
                a2 = Vector256.FusedMultiplyAdd(d, Vector256.Load(x + j) - mv, a2);
            }
            s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2);
        }
        for (; j < D; j++)
        {
            float d = dy[j] * (gamma == null ? 1f : gamma[j]);
            s1 += d; s2 = MathF.FusedMultiplyAdd(d, x[j] - m, s2);
        }
        // Pass 2: dx = rstd·dx̂ + (x − mean)·B + C with B = −rstd³·s2/D, C = −rstd·s1/D.
        float B = -r * r * r * s2 / D, C = -r * s1 / D;
        j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> mv = Vector512.Create(m), rv = Vector512.Create(r), bv = Vector512.Create(B), cv = Vector512.Create(C);
            for (; j <= D - 16; j += 16)
            {
                var d = Vector512.Load(dy + j);
                var xc = Vector512.Load(x + j) - mv;
                var dxh = gamma != null ? d * Vector512.Load(gamma + j) : d;
                Vector512.FusedMultiplyAdd(dxh, rv, Vector512.FusedMultiplyAdd(xc, bv, cv)).Store(dx + j);
                if (dg != null)
                {
                    Vector512.FusedMultiplyAdd(d, xc * rv, Vector512.Load(dg + j)).Store(dg + j);
                    (Vector512.Load(db + j) + d).Store(db + j);
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> mv = Vector256.Create(m), rv = Vector256.Create(r), bv = Vector256.Create(B), cv = Vector256.Create(C);
            for (; j <= D - 8; j += 8)
            {
                var d = Vector256.Load(dy + j);
                var xc = Vector256.Load(x + j) - mv;
                var dxh = gamma != null ? d * Vector256.Load(gamma + j) : d;
                Vector256.FusedMultiplyAdd(dxh, rv, Vector256.FusedMultiplyAdd(xc, bv, cv)).Store(dx + j);
                if (dg != null)
                {
                    Vector256.FusedMultiplyAdd(d, xc * rv, Vector256.Load(dg + j)).Store(dg + j);
                    (Vector256.Load(db + j) + d).Store(db + j);
                }
            }
        }
        for (; j < D; j++)
        {
            float d = dy[j], xc = x[j] - m, dxh = gamma != null ? d * gamma[j] : d;
            dx[j] = MathF.FusedMultiplyAdd(dxh, r, MathF.FusedMultiplyAdd(xc, B, C));
            if (dg != null) { dg[j] = MathF.FusedMultiplyAdd(d, xc * r, dg[j]); db[j] += d; }
        }
    }

    static int Check(string op, int xLen, int yLen, int gLen, int bLen, int mLen, int rLen, int D)
    {
        if (D < 1) throw new ArgumentException($"{op}: the normalised size D must be ≥ 1, got {D}.");
        if (xLen % D != 0 || yLen != xLen)
            throw new ArgumentException($"{op}: x/y have {xLen}/{yLen} elements; expected equal multiples of D = {D}.");
        if ((gLen != 0 && gLen != D) || (bLen != 0 && bLen != D))
            throw new ArgumentException($"{op}: γ/β have {gLen}/{bLen} elements, expected D = {D} or none.");
        int R = xLen / D;
        if (mLen < R || rLen < R) throw new ArgumentException($"{op}: mean/rstd need one element per row ({R}), got {mLen}/{rLen}.");
        return R;
    }
}
