// Random/Multinomial.cs — torch.multinomial on the GPU: per-row inverse-CDF sampling from the Philox
// stream, with or without replacement, giving exactly the CPU's samples for the same generator state.
//
// The CPU path (engine/Random/RandomOps.cs) draws one NextFloat per sample, rows in order, so sample s of
// row n uses Philox block offset + n·S + s, lane 0 (one block per draw; Generator.Advance(1) = 1 block).
// Each thread owns a row and repeats the CPU's arithmetic in double: total = Σ w_c; per sample
// u = U·total, walk the cumulative sum to the first bucket with u < acc and w_c > 0, step back over
// zero-weight buckets if u fell on the float edge; without replacement, total −= w_pick and w_pick ← 0
// (in a scratch copy of the weights). Double add/mul are IEEE-exact on every backend, so the picks are
// bit-identical to the CPU's. Sequential per row by nature (each pick changes the next CDF).
//
// Errors are reported, not thrown, from the kernel: status[0] = min over failing rows of 2·row + code
// (code 0: a weight is negative/NaN/∞; code 1: no positive weight left), so the host reads one int and
// names the first failing row, like the CPU's loop.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Coverage
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class MultinomialKernel
{
    /// <summary>Lane 0 of Philox4x32-10 block (seed, counter) as a uniform in [0, 1) — the CPU's NextFloat.</summary>
    static float Uniform(ulong seed, ulong counter)
    {
        const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;   // Salmon et al. 2011
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        return (c0 >> 8) * (1f / (1 << 24));
    }

    /// <summary>w: a writable copy of the (N, C) weights; result (N, S); status[0] preset to int.MaxValue.</summary>
    public static void RowsKernel(ArrayView<float> w, ArrayView<int> result, ArrayView<int> status, int N, int C, int S,
        int replacement, ulong seed, ulong offset)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int n = Grid.GlobalIndex.X; n < N; n += stride)
        {
            int row = n * C;
            double total = 0;
            bool bad = false;
            for (int c = 0; c < C; c++)
            {
                float v = w[row + c];
                if (!(v >= 0) || float.IsInfinity(v)) bad = true;
                total += v;
            }
            if (bad) { Atomic.Min(ref status[0], 2 * n); continue; }
            for (int s = 0; s < S; s++)
            {
                if (total <= 0) { Atomic.Min(ref status[0], 2 * n + 1); break; }
                double u = Uniform(seed, offset + (ulong)(n * S + s)) * total, acc = 0;
                int pick = C - 1;
                for (int c = 0; c < C; c++)
                {
                    double wc = w[row + c];
                    acc += wc;
                    if (u < acc && wc > 0) { pick = c; break; }
                }
                while (w[row + pick] <= 0) pick--;
                result[n * S + s] = pick;
                if (replacement == 0) { total -= w[row + pick]; w[row + pick] = 0f; }
            }
        }
    }

    /// <summary>Draws S samples per row; the caller advances the generator by N·S blocks.</summary>
    public static void Rows(GpuContext gpu, ArrayView<float> w, ArrayView<int> result, ArrayView<int> status, int N, int C, int S,
        bool replacement, ulong seed, ulong offset)
    {
        if (w.Length < (long)N * C || result.Length < (long)N * S || status.Length < 1 || C < 1)
            throw new ArgumentException($"Gpu.MultinomialKernel.Rows: views w={w.Length}, result={result.Length}, status={status.Length} do not fit N={N}, C={C}, S={S}.");
        if (N == 0 || S == 0) return;
        gpu.Kernels.Get("Multinomial.Rows", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<int>, int, int, int, int, ulong, ulong>(RowsKernel))
            (gpu.StreamConfig(N), w, result, status, N, C, S, replacement ? 1 : 0, seed, offset);
    }
}
