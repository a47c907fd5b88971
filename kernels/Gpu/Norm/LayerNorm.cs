// Norm/LayerNorm.cs — LayerNorm (Ba, Kiros & Hinton 2016) on the GPU, forward and backward: the math
// of kernels/Cpu/Norm/LayerNorm.cs (see its header for the formulas), rows of D floats, one segment of
// a thread group per row (RowSegments.cs).
//   Forward:   mean = Σx/D (tree), rstd = 1/√(Σ(x − mean)²/D + eps) (a second tree over the centred
//              squares: no cancellation of E[x²] − mean²), y = (x − mean)·rstd·γ + β; mean and rstd saved.
//   Backward:  dx̂ = γ·dy; one double tree for Σdx̂ and Σdx̂·x̂, then dx = rstd·(dx̂ − mean dx̂ − x̂·mean(dx̂·x̂)).
//   dγ, dβ:    Σ over rows of dy·x̂ and dy. Rows are cut into chunks fixed by the shape; one thread per
//              (chunk, column) sums its chunk in row order into a partial, then Strided.ColSum adds the
//              chunks in order: deterministic, no atomics, and every column of a wide batch gets a thread.
// Sums are float trees (the CPU orders them differently): expect agreement to ~1e-6 relative.
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
// Bench: bench/GpuBench (section "norms"), on a GPU machine through bench/gpu/run-on-device.sh
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class LayerNorm
{
    public static void ForwardKernel(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, RowShape a, float eps)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, lanes = a.Lanes, seg = tid / lanes, lane = tid - seg * lanes, D = a.Length;
        int perGroup = Group.DimX / lanes, step = Grid.DimX * perGroup;
        bool hasGamma = gamma.Length > 0, hasBeta = beta.Length > 0;
        for (int first = Grid.IdxX * perGroup; first < a.Rows; first += step)
        {
            int row = first + seg;
            bool live = row < a.Rows;                         // every thread stays for the barriers
            long o = (long)row * D;
            float s = 0f;
            if (live) for (int j = lane; j < D; j += lanes) s += x[o + j];
            float m = RowSegments.Sum(partial, tid, lane, lanes, s) / D;
            float q = 0f;
            if (live) for (int j = lane; j < D; j += lanes) { float d = x[o + j] - m; q += d * d; }
            float r = 1f / MathF.Sqrt(RowSegments.Sum(partial, tid, lane, lanes, q) / D + eps);
            if (!live) continue;
            if (lane == 0) { mean[row] = m; rstd[row] = r; }
            for (int j = lane; j < D; j += lanes)
            {
                float h = (x[o + j] - m) * r;
                if (hasGamma) h *= gamma[j];
                if (hasBeta) h += beta[j];
                y[o + j] = h;
            }
        }
    }

    public static void BackwardKernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> gamma, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dx, RowShape a)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, lanes = a.Lanes, seg = tid / lanes, lane = tid - seg * lanes, D = a.Length;
        int perGroup = Group.DimX / lanes, step = Grid.DimX * perGroup;
        bool hasGamma = gamma.Length > 0;
        for (int first = Grid.IdxX * perGroup; first < a.Rows; first += step)
        {
            int row = first + seg;
            bool live = row < a.Rows;
            long o = (long)row * D;
            float m = live ? mean[row] : 0f, r = live ? rstd[row] : 0f, sd = 0f, sdx = 0f;
            if (live)
                for (int j = lane; j < D; j += lanes)
                {
                    float d = hasGamma ? dy[o + j] * gamma[j] : dy[o + j];
                    sd += d;
                    sdx += d * ((x[o + j] - m) * r);
                }
            RowSegments.Sum2(partial, tid, lane, lanes, ref sd, ref sdx);
            if (!live) continue;
            float c1 = sd / D, c2 = sdx / D;
            for (int j = lane; j < D; j += lanes)
            {
                float d = hasGamma ? dy[o + j] * gamma[j] : dy[o + j];
                dx[o + j] = r * (d - c1 - (x[o + j] - m) * r * c2);
            }
        }
    }

    /// <summary>partials[p·D + j] = Σ_{rows r of chunk p} dy·x̂ and partials[P·D + p·D + j] = Σ dy (P chunks of <paramref name="chunk"/> rows).</summary>
    public static void ParamPartialsKernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> partials, int rows, int D, int chunk)
    {
        int P = (rows + chunk - 1) / chunk, n = P * D, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            int p = i / D, j = i - p * D, end = Math.Min(rows, (p + 1) * chunk);
            float sg = 0f, sb = 0f;
            for (int r = p * chunk; r < end; r++)
            {
                long o = (long)r * D + j;
                float d = dy[o];
                sg += d * ((x[o] - mean[r]) * rstd[r]);
                sb += d;
            }
            partials[i] = sg;
            partials[n + i] = sb;
        }
    }

    static int Rows(string op, long x, long y, long gamma, long beta, long mean, long rstd, int D)
    {
        if (D < 1 || x % D != 0 || y != x || (gamma != 0 && gamma != D) || (beta != 0 && beta != D) || x > int.MaxValue
            || mean != x / D || rstd != x / D)
            throw new ArgumentException($"Gpu.LayerNorm.{op}: views x={x}, y/dx={y}, γ={gamma}, β={beta}, mean={mean}, rstd={rstd} do not fit rows of D = {D}.");
        return (int)(x / D);
    }

    /// <summary>Rows per chunk of the dγ/dβ partials: about 32K (chunk, column) threads on a GPU; 4 rows on
    /// the CPU accelerator (so tests cross chunk edges). Shape and kind only: the sums are deterministic.</summary>
    public static int ParamChunk(GpuContext gpu, int rows, int D)
    {
        if (gpu.Kind == GpuKind.CpuAccelerator) return 4;
        int chunks = Math.Clamp((32768 + D - 1) / D, 1, Math.Max(1, rows));
        return Math.Max(1, (rows + chunks - 1) / chunks);
    }

    /// <summary>Floats of workspace <see cref="Backward"/> needs for dγ/dβ.</summary>
    public static int PartialsLength(GpuContext gpu, int rows, int D)
    {
        int chunk = ParamChunk(gpu, rows, D);
        return 2 * ((rows + chunk - 1) / chunk) * D;
    }

    /// <summary>y = γ·x̂ + β over rows of <paramref name="D"/>; mean and rstd (one per row) saved. Empty γ/β views when absent.</summary>
    public static void Forward(GpuContext gpu, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int D, float eps)
    {
        int R = Rows("Forward", x.Length, y.Length, gamma.Length, beta.Length, mean.Length, rstd.Length, D);
        if (R == 0) return;
        var (config, shape) = RowSegments.Launch(gpu, R, D, 1);
        gpu.Kernels.Get("LayerNorm.Forward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, RowShape, float>(ForwardKernel))(config, x, gamma, beta, y, mean, rstd, shape, eps);
    }

    /// <summary>dx; dγ and dβ (D each; empty views when not wanted) through <paramref name="partials"/> (≥ PartialsLength floats when either is wanted).</summary>
    public static void Backward(GpuContext gpu, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> gamma, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dx, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> partials, int D)
    {
        int R = Rows("Backward", x.Length, dx.Length, gamma.Length, 0, mean.Length, rstd.Length, D);
        bool affine = dgamma.Length > 0 || dbeta.Length > 0;
        if (dy.Length != x.Length || (dgamma.Length != 0 && dgamma.Length != D) || (dbeta.Length != 0 && dbeta.Length != D)
            || (affine && R > 0 && partials.Length < PartialsLength(gpu, R, D)))
            throw new ArgumentException($"Gpu.LayerNorm.Backward: dy has {dy.Length} floats (x {x.Length}); dγ {dgamma.Length}, dβ {dbeta.Length} (D = {D}); " +
                $"partials {partials.Length} (need {(R > 0 ? PartialsLength(gpu, R, D) : 0)}).");
        if (R == 0)
        {
            if (dgamma.Length > 0) Strided.Fill(gpu, dgamma, 0f);
            if (dbeta.Length > 0) Strided.Fill(gpu, dbeta, 0f);
            return;
        }
        var (config, shape) = RowSegments.Launch(gpu, R, D, 2);
        gpu.Kernels.Get("LayerNorm.Backward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, RowShape>(BackwardKernel))(config, x, dy, gamma, mean, rstd, dx, shape);
        if (!affine) return;
        int chunk = ParamChunk(gpu, R, D), P = (R + chunk - 1) / chunk, n = P * D;
        gpu.Kernels.Get("LayerNorm.ParamPartials", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int>(ParamPartialsKernel))(gpu.StreamConfig(n), x, dy, mean, rstd, partials.SubView(0, 2 * n), R, D, chunk);
        if (dgamma.Length > 0) Strided.ColSum(gpu, partials.SubView(0, n), dgamma, P, D);
        if (dbeta.Length > 0) Strided.ColSum(gpu, partials.SubView(n, n), dbeta, P, D);
    }
}
