// Norm/GroupNorm.cs — GroupNorm (Wu & He 2018), optionally fused with SiLU, forward and backward on
// the GPU: the math of kernels/Cpu/Norm/GroupNorm.cs (see its header for the formulas), one thread
// group per (n, g) row of M = Cg·S elements.
//
// Forward: block sum → mean, block sum of (x − mean)² → rstd (two passes, as the CPU: no
// catastrophic cancellation of E[x²] − mean²), then one pass h = (x − mean)·rstd·γ + β, [silu].
// Backward: per channel of the group, block sums of dh and dh·x̂ (dh = dy, or dy·silu'(h)), written
// as per-(n, c) partials for dγ/dβ (reduced over n in order by Strided.ColSum: deterministic); then
// dx = dh·A + (x − mean)·B + D with the CPU's per-channel constants.
// Block sums are shared-memory trees (no warp shuffles: they must compile for every OpenCL vendor);
// the group size is a power of two. Sums are float (the CPU combines channel sums in double), so
// expect agreement to ~1e-6 relative.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Sizes and flags of one GroupNorm launch (ints for flags: see AdamStep).</summary>
public readonly struct GroupNormArgs(int n, int c, int s, int g, float eps, bool silu, bool hasGamma, bool hasBeta)
{
    public readonly int N = n, C = c, S = s, G = g, SiLU = silu ? 1 : 0, HasGamma = hasGamma ? 1 : 0, HasBeta = hasBeta ? 1 : 0;
    public readonly float Eps = eps;
}

public static class GroupNorm
{
    /// <summary>Σ of every thread's <paramref name="v"/> in the group (all threads get it). Power-of-two groups.</summary>
    static float BlockSum(ArrayView<float> partial, float v)
    {
        int tid = Group.IdxX;
        partial[tid] = v;
        Group.Barrier();
        for (int half = Group.DimX >> 1; half > 0; half >>= 1)
        {
            if (tid < half) partial[tid] += partial[tid + half];
            Group.Barrier();
        }
        float total = partial[0];
        Group.Barrier();                                     // partial[] is reused by the next sum
        return total;
    }

    public static void ForwardKernel(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, GroupNormArgs a)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, threads = Group.DimX, rows = a.N * a.G, Cg = a.C / a.G, M = Cg * a.S;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            int n = row / a.G, g = row - n * a.G, o = (n * a.C + g * Cg) * a.S;
            float s = 0f;
            for (int i = tid; i < M; i += threads) s += x[o + i];
            float m = BlockSum(partial, s) / M;
            float q = 0f;
            for (int i = tid; i < M; i += threads) { float d = x[o + i] - m; q += d * d; }
            float r = 1f / MathF.Sqrt(BlockSum(partial, q) / M + a.Eps);
            if (tid == 0) { mean[row] = m; rstd[row] = r; }
            for (int i = tid; i < M; i += threads)
            {
                int c = g * Cg + i / a.S;
                float A = a.HasGamma != 0 ? r * gamma[c] : r, B = a.HasBeta != 0 ? beta[c] : 0f;
                float h = (x[o + i] - m) * A + B;
                y[o + i] = a.SiLU != 0 ? h / (1f + MathF.Exp(-h)) : h;
            }
        }
    }

    /// <summary>dx; and, when <paramref name="partials"/> is not empty, partials[n·C + c] = Σ dh·x̂ and partials[N·C + n·C + c] = Σ dh.</summary>
    public static void BackwardKernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dx, ArrayView<float> partials, GroupNormArgs a)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, threads = Group.DimX, rows = a.N * a.G, Cg = a.C / a.G, M = Cg * a.S, NC = a.N * a.C;
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            int n = row / a.G, g = row - n * a.G, o = (n * a.C + g * Cg) * a.S;
            float m = mean[row], r = rstd[row], sum1 = 0f, sum2 = 0f;
            // Pass 1: dh into dx; per channel Σ dh and Σ dh·x̂.
            for (int cl = 0; cl < Cg; cl++)
            {
                int c = g * Cg + cl, co = o + cl * a.S;
                float ga = a.HasGamma != 0 ? gamma[c] : 1f, be = a.HasBeta != 0 ? beta[c] : 0f;
                float sd = 0f, sdx = 0f;
                for (int j = tid; j < a.S; j += threads)
                {
                    float xh = (x[co + j] - m) * r, d = dy[co + j];
                    if (a.SiLU != 0)
                    {
                        float h = xh * ga + be, sg = 1f / (1f + MathF.Exp(-h));
                        d *= sg * (h * (1f - sg) + 1f);
                    }
                    dx[co + j] = d;
                    sd += d;
                    sdx += d * xh;
                }
                sd = BlockSum(partial, sd);
                sdx = BlockSum(partial, sdx);
                sum1 += ga * sd;
                sum2 += ga * sdx;
                if (tid == 0 && partials.Length > 0) { partials[n * a.C + c] = sdx; partials[NC + n * a.C + c] = sd; }
            }
            // Pass 2 (the BlockSums' barriers ordered every pass-1 write before these reads).
            float c1 = sum1 / M, c2 = sum2 / M;
            for (int i = tid; i < M; i += threads)
            {
                int c = g * Cg + i / a.S;
                float A = r * (a.HasGamma != 0 ? gamma[c] : 1f), B = -r * r * c2, D = -r * c1;
                dx[o + i] = dx[o + i] * A + ((x[o + i] - m) * B + D);
            }
            Group.Barrier();                                 // dx of this row is final before a thread moves on
        }
    }

    static KernelConfig Config(GpuContext gpu, int rows, long m)
    {
        int max = gpu.Kind == GpuKind.CpuAccelerator ? 16 : 256, threads = 1;
        while (threads < max && threads < m) threads <<= 1;
        int groups = Math.Max(1, Math.Min(rows, gpu.Kind == GpuKind.CpuAccelerator ? 2 : 65535));
        return new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(threads));
    }

    static void Check(GroupNormArgs a, long x, long y, long gamma, long beta, long mean, long rstd)
    {
        long len = (long)a.N * a.C * a.S;
        if (a.G < 1 || a.C % a.G != 0 || x != len || y != len || mean != (long)a.N * a.G || rstd != (long)a.N * a.G
            || (a.HasGamma != 0 && gamma != a.C) || (a.HasBeta != 0 && beta != a.C) || len > int.MaxValue)
            throw new ArgumentException($"Gpu.GroupNorm: views x={x}, y/dx={y}, γ={gamma}, β={beta}, mean={mean}, rstd={rstd} do not fit N={a.N}, C={a.C}, S={a.S}, G={a.G}.");
    }

    /// <summary>y = [silu](γ·x̂ + β), mean and rstd (N·G) saved for the backward. Empty γ/β views when absent.</summary>
    public static void Forward(GpuContext gpu, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, GroupNormArgs a)
    {
        Check(a, x.Length, y.Length, gamma.Length, beta.Length, mean.Length, rstd.Length);
        if (a.N * a.G == 0 || a.S == 0) return;
        gpu.Kernels.Get("GroupNorm.Forward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, GroupNormArgs>(ForwardKernel))(Config(gpu, a.N * a.G, (long)a.C / a.G * a.S), x, gamma, beta, y, mean, rstd, a);
    }

    /// <summary>dx, and dγ/dβ (C each; empty views when not wanted) through per-(n, c) partials in <paramref name="partials"/> (2·N·C).</summary>
    public static void Backward(GpuContext gpu, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dx, ArrayView<float> dgamma, ArrayView<float> dbeta,
        ArrayView<float> partials, GroupNormArgs a)
    {
        Check(a, x.Length, dx.Length, gamma.Length, beta.Length, mean.Length, rstd.Length);
        bool affine = dgamma.Length > 0 || dbeta.Length > 0;
        long nc = (long)a.N * a.C;
        if (dy.Length != x.Length || (affine && partials.Length < 2 * nc))
            throw new ArgumentException($"Gpu.GroupNorm.Backward: dy has {dy.Length} elements (x {x.Length}); partials {partials.Length} (need {2 * nc} for dγ/dβ).");
        if (a.N * a.G == 0 || a.S == 0)
        {
            if (dgamma.Length > 0) Strided.Fill(gpu, dgamma, 0f);
            if (dbeta.Length > 0) Strided.Fill(gpu, dbeta, 0f);
            return;
        }
        var p = affine ? partials.SubView(0, 2 * nc) : default;
        gpu.Kernels.Get("GroupNorm.Backward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GroupNormArgs>(BackwardKernel))
            (Config(gpu, a.N * a.G, (long)a.C / a.G * a.S), x, dy, gamma, beta, mean, rstd, dx, p, a);
        if (dgamma.Length > 0) Strided.ColSum(gpu, p.SubView(0, nc), dgamma, a.N, a.C);
        if (dbeta.Length > 0) Strided.ColSum(gpu, p.SubView(nc, nc), dbeta, a.N, a.C);
    }
}
