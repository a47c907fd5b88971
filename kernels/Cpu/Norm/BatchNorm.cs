// BatchNorm.cs — training-mode BatchNorm (Ioffe & Szegedy, "Batch Normalization", 2015), forward
// with the batch statistics and backward, fused into two passes per channel.
//
// x (N, C, S) with S the product of the spatial dims (S = 1 for BatchNorm1d on (N, C)); per channel
// c, over its M = N·S values:
//   mean = Σx/M,  var = Σ(x − mean)²/M (biased, as PyTorch normalises),  rstd = 1/√(var + eps)
//   x̂ = (x − mean)·rstd,  y = γ_c·x̂ + β_c
// Backward (the chain rule through mean and rstd in closed form, as GroupNorm.cs):
//   dβ_c = Σ dy,  dγ_c = Σ dy·x̂,  dx = rstd·γ_c·(dy − dβ_c/M − x̂·dγ_c/M)
// Why fused: the engine's composed BatchNorm (mean, sub, mul, rsqrt, broadcasting mul/add, and their
// backward rules with broadcast reductions) made ~14 passes over x per training step; in M4's step
// (DCGAN-S, bench `m4 --profile`) it was the largest cost after the convolutions.
//
// Versions, each kept and tested against V0 (tests/Kernels/BatchNormTests.cs):
//   V0Reference  plain loops in double, channel by channel; the reference
//   V1Fused      per channel: statistics from float vector row sums combined in double (a channel's
//                N·S values are a few KiB, so the passes re-read L1/L2), then one FMA pass; backward
//                one pass for Σdy and Σdy·x̂, one for dx. S = 1 runs 16 channels per Vector512 (a
//                channel's values are a column of stride C). Parts are channel ranges (blocks of 16
//                when S = 1) fixed by the shape, and every channel is summed in one fixed order, so
//                1 and 2 threads give the same bits.                                      (current)
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.BatchNorm
// Bench: dotnet run -c Release --project bench -- m4 --threads 1 --profile
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Denoise.Kernels.Cpu;

/// <summary>Shape of a BatchNorm: N samples, C channels of S elements each.</summary>
public readonly record struct BatchNormShape(int N, int C, int S, float Eps)
{
    public long M => (long)N * S;
    public long Length => (long)N * C * S;
}

public static unsafe class BatchNorm
{
    /// <summary>y = γ·x̂ + β with the batch statistics; mean, var (biased) and rstd (C each) are returned for
    /// the running statistics and the backward. γ/β may be empty (1 and 0).</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> var, Span<float> rstd, in BatchNormShape s)
        => Forward(NormVersion.V1Fused, x, gamma, beta, y, mean, var, rstd, s);

    /// <summary>dx, and dγ/dβ (C) when those spans are not empty.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, in BatchNormShape s)
        => Backward(NormVersion.V1Fused, x, dy, gamma, mean, rstd, dx, dgamma, dbeta, s);

    public static void Forward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> var, Span<float> rstd, in BatchNormShape s)
    {
        Check(s, x.Length, y.Length, gamma.Length, beta.Length);
        if (mean.Length < s.C || var.Length < s.C || rstd.Length < s.C)
            throw new ArgumentException($"batch_norm: mean/var/rstd need C = {s.C} elements for {s}.");
        fixed (float* px = x, pg = gamma, pb = beta, py = y, pm = mean, pv = var, pr = rstd)
        {
            var job = new Job(true, v, s, px, null, gamma.IsEmpty ? null : pg, beta.IsEmpty ? null : pb, py, pm, pv, pr, null, null, Parts(s));
            if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        }
    }

    public static void Backward(NormVersion v, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dgamma, Span<float> dbeta, in BatchNormShape s)
    {
        Check(s, x.Length, dx.Length, gamma.Length, 0);
        if (dy.Length != x.Length) throw new ArgumentException($"batch_norm backward: dy has {dy.Length} elements, x {x.Length}.");
        if (mean.Length < s.C || rstd.Length < s.C) throw new ArgumentException($"batch_norm backward: mean/rstd need C = {s.C} elements.");
        if ((!dgamma.IsEmpty && dgamma.Length != s.C) || (!dbeta.IsEmpty && dbeta.Length != s.C))
            throw new ArgumentException($"batch_norm backward: dγ/dβ must have C = {s.C} elements.");
        fixed (float* px = x, pdy = dy, pg = gamma, pm = mean, pr = rstd, pdx = dx, pdg = dgamma, pdb = dbeta)
        {
            var job = new Job(false, v, s, px, pdy, gamma.IsEmpty ? null : pg, null, pdx, pm, null, pr,
                dgamma.IsEmpty ? null : pdg, dbeta.IsEmpty ? null : pdb, Parts(s));
            if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        }
    }

    const int Lanes = 16;

    /// <summary>Units a part covers: channels, or blocks of 16 channels when S = 1.</summary>
    static int Units(in BatchNormShape s) => s.S == 1 ? (s.C + Lanes - 1) / Lanes : s.C;

    // ≥ 2^15 elements a part so the pool hand-off (~1 µs) is noise. Shape only.
    static int Parts(in BatchNormShape s) => (int)Math.Clamp(s.Length / (1 << 15), 1, Math.Min(Units(s), 16));

    /// <summary>Forward (y, mean, var, rstd from x) or backward (out = dx, dγ, dβ from x, dy) over a range of units.</summary>
    readonly struct Job(bool forward, NormVersion v, BatchNormShape s, float* x, float* dy, float* gamma, float* beta,
        float* outp, float* mean, float* var, float* rstd, float* dgamma, float* dbeta, int parts) : IParallelJob
    {
        public int Parts => parts;
        public void Execute(int part)
        {
            var (u0, count) = WorkerPool.Range(Units(s), parts, part);
            if (v == NormVersion.V1Fused && s.S == 1 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
            {
                for (int u = u0; u < u0 + count; u++)
                {
                    int c0 = u * Lanes, lanes = Math.Min(Lanes, s.C - c0);
                    if (forward) ColumnsForward(s, c0, lanes, x, gamma, beta, outp, mean, var, rstd);
                    else ColumnsBackward(s, c0, lanes, x, dy, gamma, mean, rstd, outp, dgamma, dbeta);
                }
                return;
            }
            int cEnd = s.S == 1 ? Math.Min(s.C, (u0 + count) * Lanes) : u0 + count;
            for (int c = s.S == 1 ? u0 * Lanes : u0; c < cEnd; c++)
            {
                if (v == NormVersion.V0Reference)
                {
                    if (forward) V0Forward(s, c, x, gamma, beta, outp, mean, var, rstd);
                    else V0Backward(s, c, x, dy, gamma, mean, rstd, outp, dgamma, dbeta);
                }
                else if (forward) V1Forward(s, c, x, gamma, beta, outp, mean, var, rstd);
                else V1Backward(s, c, x, dy, gamma, mean, rstd, outp, dgamma, dbeta);
            }
        }
    }

    // ───────────────────── V0: plain loops in double ─────────────────────

    static void V0Forward(in BatchNormShape s, int c, float* x, float* gamma, float* beta, float* y, float* mean, float* var, float* rstd)
    {
        double sum = 0, sq = 0, M = s.M;
        for (int n = 0; n < s.N; n++) for (int j = 0; j < s.S; j++) sum += x[((long)n * s.C + c) * s.S + j];
        double m = sum / M;
        for (int n = 0; n < s.N; n++) for (int j = 0; j < s.S; j++) { double d = x[((long)n * s.C + c) * s.S + j] - m; sq += d * d; }
        double r = 1 / Math.Sqrt(sq / M + s.Eps), ga = gamma == null ? 1 : gamma[c], be = beta == null ? 0 : beta[c];
        mean[c] = (float)m; var[c] = (float)(sq / M); rstd[c] = (float)r;
        for (int n = 0; n < s.N; n++)
            for (int j = 0; j < s.S; j++)
            {
                long i = ((long)n * s.C + c) * s.S + j;
                y[i] = (float)((x[i] - m) * r * ga + be);
            }
    }

    static void V0Backward(in BatchNormShape s, int c, float* x, float* dy, float* gamma, float* mean, float* rstd,
        float* dx, float* dgamma, float* dbeta)
    {
        double m = mean[c], r = rstd[c], ga = gamma == null ? 1 : gamma[c], sd = 0, sdx = 0, M = s.M;
        for (int n = 0; n < s.N; n++)
            for (int j = 0; j < s.S; j++)
            {
                long i = ((long)n * s.C + c) * s.S + j;
                sd += dy[i]; sdx += dy[i] * (x[i] - m) * r;
            }
        for (int n = 0; n < s.N; n++)
            for (int j = 0; j < s.S; j++)
            {
                long i = ((long)n * s.C + c) * s.S + j;
                dx[i] = (float)(r * ga * (dy[i] - sd / M - (x[i] - m) * r * sdx / M));
            }
        if (dgamma != null) dgamma[c] = (float)sdx;
        if (dbeta != null) dbeta[c] = (float)sd;
    }

    // ───────────────────── V1: rows of S, vector passes ─────────────────────

    static void V1Forward(in BatchNormShape s, int c, float* x, float* gamma, float* beta, float* y, float* mean, float* var, float* rstd)
    {
        int S = s.S;
        long rowStride = (long)s.C * S;
        float* x0 = x + (long)c * S;
        double sum = 0;
        for (int n = 0; n < s.N; n++) sum += GroupNorm.RowSum(x0 + n * rowStride, S);
        float m = (float)(sum / s.M);
        double sq = 0;
        for (int n = 0; n < s.N; n++) sq += GroupNorm.RowCentredSquares(x0 + n * rowStride, S, m);
        float vr = (float)(sq / s.M), r = (float)(1 / Math.Sqrt(sq / s.M + s.Eps));
        mean[c] = m; var[c] = vr; rstd[c] = r;
        // y = (x − mean)·a + β, a = rstd·γ (mean is not folded into β: that cancels when |mean| ≫ std).
        float a = r * (gamma == null ? 1f : gamma[c]), b = beta == null ? 0f : beta[c];
        for (int n = 0; n < s.N; n++)
        {
            float* xr = x0 + n * rowStride, yr = y + (long)c * S + n * rowStride;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> av = Vector512.Create(a), bv = Vector512.Create(b), mv = Vector512.Create(m);
                for (; j <= S - 16; j += 16) Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, av, bv).Store(yr + j);
            }
            for (; j < S; j++) yr[j] = MathF.FusedMultiplyAdd(xr[j] - m, a, b);
        }
    }

    static void V1Backward(in BatchNormShape s, int c, float* x, float* dy, float* gamma, float* mean, float* rstd,
        float* dx, float* dgamma, float* dbeta)
    {
        int S = s.S;
        long rowStride = (long)s.C * S, o = (long)c * S;
        float m = mean[c], r = rstd[c];
        // Pass 1: Σ dy and Σ dy·(x − mean) per row in float vectors, rows combined in double.
        double sd = 0, sdc = 0;
        for (int n = 0; n < s.N; n++)
        {
            float* xr = x + o + n * rowStride, dyr = dy + o + n * rowStride;
            float rd = 0, rdc = 0;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> mv = Vector512.Create(m), a = Vector512<float>.Zero, b = Vector512<float>.Zero;
                for (; j <= S - 16; j += 16)
                {
                    var d = Vector512.Load(dyr + j);
                    a += d;
                    b = Vector512.FusedMultiplyAdd(d, Vector512.Load(xr + j) - mv, b);
                }
                rd = Vector512.Sum(a); rdc = Vector512.Sum(b);
            }
            for (; j < S; j++) { rd += dyr[j]; rdc = MathF.FusedMultiplyAdd(dyr[j], xr[j] - m, rdc); }
            sd += rd; sdc += rdc;
        }
        double sdx = sdc * r;                                        // Σ dy·x̂
        if (dgamma != null) dgamma[c] = (float)sdx;
        if (dbeta != null) dbeta[c] = (float)sd;
        // Pass 2: dx = dy·A + (x − mean)·B + D with A = rstd·γ, B = −rstd²·γ·Σdy·x̂/M, D = −rstd·γ·Σdy/M.
        float ga = gamma == null ? 1f : gamma[c];
        float A = r * ga, B = (float)(-r * (double)r * ga * sdx / s.M), D = (float)(-r * (double)ga * sd / s.M);
        for (int n = 0; n < s.N; n++)
        {
            float* xr = x + o + n * rowStride, dyr = dy + o + n * rowStride, dr = dx + o + n * rowStride;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> av = Vector512.Create(A), bv = Vector512.Create(B), dv = Vector512.Create(D), mv = Vector512.Create(m);
                for (; j <= S - 16; j += 16)
                    Vector512.FusedMultiplyAdd(Vector512.Load(dyr + j), av,
                        Vector512.FusedMultiplyAdd(Vector512.Load(xr + j) - mv, bv, dv)).Store(dr + j);
            }
            for (; j < S; j++) dr[j] = MathF.FusedMultiplyAdd(dyr[j], A, MathF.FusedMultiplyAdd(xr[j] - m, B, D));
        }
    }

    // ───────────────────── V1, S = 1: 16 channels per vector ─────────────────────

    static Vector512<float> Mask(int lanes) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(lanes)).AsSingle();

    static Vector512<float> Load(float* p, Vector512<float> mask, int lanes) =>
        lanes == Lanes ? Vector512.Load(p) : Avx512F.MaskLoad(p, mask, Vector512<float>.Zero);

    static void Store(Vector512<float> v, float* p, Vector512<float> mask, int lanes)
    {
        if (lanes == Lanes) v.Store(p); else Avx512F.MaskStore(p, mask, v);
    }

    /// <summary>Channels c0 … c0+lanes−1 of x (N, C): lane l holds channel c0 + l; each lane's sums run over n in order.</summary>
    static void ColumnsForward(in BatchNormShape s, int c0, int lanes, float* x, float* gamma, float* beta, float* y,
        float* mean, float* var, float* rstd)
    {
        var mask = Mask(lanes);
        long C = s.C;
        float invM = 1f / s.N;
        var sum = Vector512<float>.Zero;
        for (int n = 0; n < s.N; n++) sum += Load(x + n * C + c0, mask, lanes);
        var m = sum * invM;
        var sq = Vector512<float>.Zero;
        for (int n = 0; n < s.N; n++) { var d = Load(x + n * C + c0, mask, lanes) - m; sq = Vector512.FusedMultiplyAdd(d, d, sq); }
        var vr = sq * invM;
        var r = Vector512<float>.One / Vector512.Sqrt(vr + Vector512.Create(s.Eps));
        Store(m, mean + c0, mask, lanes); Store(vr, var + c0, mask, lanes); Store(r, rstd + c0, mask, lanes);
        var a = gamma == null ? r : r * Load(gamma + c0, mask, lanes);
        var b = beta == null ? Vector512<float>.Zero : Load(beta + c0, mask, lanes);
        for (int n = 0; n < s.N; n++)
            Store(Vector512.FusedMultiplyAdd(Load(x + n * C + c0, mask, lanes) - m, a, b), y + n * C + c0, mask, lanes);
    }

    static void ColumnsBackward(in BatchNormShape s, int c0, int lanes, float* x, float* dy, float* gamma, float* mean, float* rstd,
        float* dx, float* dgamma, float* dbeta)
    {
        var mask = Mask(lanes);
        long C = s.C;
        var m = Load(mean + c0, mask, lanes);
        var r = Load(rstd + c0, mask, lanes);
        Vector512<float> sd = Vector512<float>.Zero, sdc = Vector512<float>.Zero;
        for (int n = 0; n < s.N; n++)
        {
            var d = Load(dy + n * C + c0, mask, lanes);
            sd += d;
            sdc = Vector512.FusedMultiplyAdd(d, Load(x + n * C + c0, mask, lanes) - m, sdc);
        }
        var sdx = sdc * r;
        if (dgamma != null) Store(sdx, dgamma + c0, mask, lanes);
        if (dbeta != null) Store(sd, dbeta + c0, mask, lanes);
        var ga = gamma == null ? Vector512<float>.One : Load(gamma + c0, mask, lanes);
        var invM = Vector512.Create(1f / s.N);
        var A = r * ga;
        var B = -(A * r * sdx * invM);
        var D = -(A * sd * invM);
        for (int n = 0; n < s.N; n++)
            Store(Vector512.FusedMultiplyAdd(Load(dy + n * C + c0, mask, lanes), A,
                Vector512.FusedMultiplyAdd(Load(x + n * C + c0, mask, lanes) - m, B, D)), dx + n * C + c0, mask, lanes);
    }

    static void Check(in BatchNormShape s, int xLen, int yLen, int gLen, int bLen)
    {
        if (s.N < 1 || s.C < 1 || s.S < 1)
            throw new ArgumentException($"batch_norm: invalid shape {s} (N, C and S must be positive).");
        if (xLen != s.Length || yLen != s.Length)
            throw new ArgumentException($"batch_norm: x/y have {xLen}/{yLen} elements, expected N·C·S = {s.Length} for {s}.");
        if ((gLen != 0 && gLen != s.C) || (bLen != 0 && bLen != s.C))
            throw new ArgumentException($"batch_norm: γ/β have {gLen}/{bLen} elements, expected C = {s.C} or none.");
    }
}
