// Nearest.cs — nearest-neighbour resize of P planes (N·C of an NCHW tensor) and its adjoint: the
// UNet's Upsample (nearest ×2 before a Conv3×3; WORKLOADS M1 at 7→14 and 14→28).
//
// x (P, H, W) → y (P, Ho, Wo) with per-axis source tables hi (Ho) and wi (Wo), computed by the
// caller (PyTorch's rule: src = min(⌊dst·in/out⌋, in − 1)):
//   forward  y[p, i, j]  = x[p, hi[i], wi[j]]
//   adjoint  dx[p, h, w] = Σ_{i: hi[i] = h} Σ_{j: wi[j] = w} g[p, i, j]        (the backward of forward)
// The map is linear, so the forward's gradient is the adjoint and the adjoint's is the forward.
//
// Versions, each kept and tested against V0 (tests/Kernels/NearestTests.cs). M1's two upsamples
// (64×128×7×7 → 14×14, 64×64×14×14 → 28×28) forward + adjoint, 1 thread, M1 step profile:
//   (engine before: IndexSelect along H, then along W; backward ZerosLike + two IndexAdds, serial:
//    6.5 ms forward + 7.9 ms backward a step on 1 thread, 8 + 27 ms on 2 under load)
//   V0Reference  one loop per output element (gather; scatter-add in row-major output order)
//   V1Rows       forward gathers an output row only when its source row differs from the previous
//                output row's (×2: every other row is one contiguous copy); the adjoint adds the
//                output rows that share a source row as vectors first, then scatters the summed row
//                by wi, so the scalar scatter runs once per source row instead of once per output
//                row. Planes split over the WorkerPool in parts fixed by the shape.  (current)
//                M1 step, 1 thread CPU time (bench `m1 --profile --cpu-time --threads 1`, min of 3 interleaved
//                runs, load 8–13): 1.7 ms forward + 2.7 ms backward (IndexSelect path: 4.3 + 7.2 ms).
// Adjoint bits: V0 accumulates each dx in output order, V1 sums the rows of a source row first, so
// they agree to rounding, not bit for bit. Each plane has one fixed order in V1 whatever the
// thread count, so 1 and 2 threads give the same bits.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Nearest
using System.Numerics.Tensors;

namespace Denoise.Kernels.Cpu;

public enum NearestVersion { V0Reference, V1Rows }

/// <summary>P planes of H × W resized to Ho × Wo.</summary>
public readonly record struct NearestShape(int P, int H, int W, int Ho, int Wo)
{
    public long InLength => (long)P * H * W;
    public long OutLength => (long)P * Ho * Wo;
}

public static unsafe class Nearest
{
    /// <summary>y = x at the source tables: y[p, i, j] = x[p, hi[i], wi[j]].</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<int> hi, ReadOnlySpan<int> wi, in NearestShape s)
        => Forward(NearestVersion.V1Rows, x, y, hi, wi, s);

    /// <summary>dx = the forward's transpose applied to g (dx is overwritten).</summary>
    public static void Adjoint(ReadOnlySpan<float> g, Span<float> dx, ReadOnlySpan<int> hi, ReadOnlySpan<int> wi, in NearestShape s)
        => Adjoint(NearestVersion.V1Rows, g, dx, hi, wi, s);

    public static void Forward(NearestVersion v, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<int> hi, ReadOnlySpan<int> wi, in NearestShape s)
    {
        Check(s, x.Length, y.Length, hi, wi);
        fixed (float* px = x, py = y)
        fixed (int* ph = hi, pw = wi)
        {
            var job = new Job(v, adjoint: false, s, px, py, ph, pw, Parts(s));
            if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        }
    }

    public static void Adjoint(NearestVersion v, ReadOnlySpan<float> g, Span<float> dx, ReadOnlySpan<int> hi, ReadOnlySpan<int> wi, in NearestShape s)
    {
        Check(s, dx.Length, g.Length, hi, wi);
        fixed (float* pg = g, pdx = dx)
        fixed (int* ph = hi, pw = wi)
        {
            var job = new Job(v, adjoint: true, s, pg, pdx, ph, pw, Parts(s));
            if (job.Parts == 1) job.Execute(0); else WorkerPool.Run(job, job.Parts);
        }
    }

    // Ranges of planes, ≥ 2^15 output floats a part so the pool hand-off is noise. Shape only.
    static int Parts(in NearestShape s) =>
        s.P <= 1 ? 1 : Math.Min(s.P, WorkerPool.PartsFor(s.OutLength, 1 << 15));

    /// <summary>Forward: src = x, dst = y. Adjoint: src = g, dst = dx.</summary>
    readonly struct Job(NearestVersion v, bool adjoint, NearestShape s, float* src, float* dst, int* hi, int* wi, int parts) : IParallelJob
    {
        public int Parts => parts;
        public void Execute(int part)
        {
            var (p0, count) = WorkerPool.Range(s.P, parts, part);
            long inPlane = (long)s.H * s.W, outPlane = (long)s.Ho * s.Wo;
            for (int p = p0; p < p0 + count; p++)
            {
                if (!adjoint)
                {
                    if (v == NearestVersion.V0Reference) V0Forward(s, src + p * inPlane, dst + p * outPlane, hi, wi);
                    else V1Forward(s, src + p * inPlane, dst + p * outPlane, hi, wi);
                }
                else
                {
                    if (v == NearestVersion.V0Reference) V0Adjoint(s, src + p * outPlane, dst + p * inPlane, hi, wi);
                    else V1Adjoint(s, src + p * outPlane, dst + p * inPlane, hi, wi);
                }
            }
        }
    }

    // ───────────────────── V0: one loop per output element ─────────────────────

    static void V0Forward(in NearestShape s, float* x, float* y, int* hi, int* wi)
    {
        for (int i = 0; i < s.Ho; i++)
            for (int j = 0; j < s.Wo; j++)
                y[i * s.Wo + j] = x[hi[i] * s.W + wi[j]];
    }

    static void V0Adjoint(in NearestShape s, float* g, float* dx, int* hi, int* wi)
    {
        new Span<float>(dx, s.H * s.W).Clear();
        for (int i = 0; i < s.Ho; i++)
            for (int j = 0; j < s.Wo; j++)
                dx[hi[i] * s.W + wi[j]] += g[i * s.Wo + j];
    }

    // ───────────────────── V1: one gather / scatter per distinct source row ─────────────────────

    static void V1Forward(in NearestShape s, float* x, float* y, int* hi, int* wi)
    {
        int Wo = s.Wo;
        for (int i = 0; i < s.Ho; i++)
        {
            float* yr = y + (long)i * Wo;
            if (i > 0 && hi[i] == hi[i - 1])
            {
                new ReadOnlySpan<float>(yr - Wo, Wo).CopyTo(new Span<float>(yr, Wo));
                continue;
            }
            float* xr = x + (long)hi[i] * s.W;
            for (int j = 0; j < Wo; j++) yr[j] = xr[wi[j]];
        }
    }

    static void V1Adjoint(in NearestShape s, float* g, float* dx, int* hi, int* wi)
    {
        int Wo = s.Wo, W = s.W;
        new Span<float>(dx, s.H * W).Clear();
        // A run of output rows with one source row is summed into a row buffer (vector adds), then
        // scattered once. Ho ≥ H runs (upsampling) are short and Wo is one image row: stack space.
        Span<float> run = Wo <= 1024 ? stackalloc float[Wo] : new float[Wo];
        for (int i = 0; i < s.Ho;)
        {
            int h = hi[i];
            var first = new ReadOnlySpan<float>(g + (long)i * Wo, Wo);
            int end = i + 1;
            while (end < s.Ho && hi[end] == h) end++;
            ReadOnlySpan<float> sum = first;
            if (end > i + 1)
            {
                TensorPrimitives.Add(first, new ReadOnlySpan<float>(g + (long)(i + 1) * Wo, Wo), run);
                for (int k = i + 2; k < end; k++) TensorPrimitives.Add(run, new ReadOnlySpan<float>(g + (long)k * Wo, Wo), run);
                sum = run;
            }
            float* dr = dx + (long)h * W;
            for (int j = 0; j < Wo; j++) dr[wi[j]] += sum[j];
            i = end;
        }
    }

    static void Check(in NearestShape s, long inLen, long outLen, ReadOnlySpan<int> hi, ReadOnlySpan<int> wi)
    {
        if (s.P < 0 || s.H < 1 || s.W < 1 || s.Ho < 0 || s.Wo < 0)
            throw new ArgumentException($"nearest resize: invalid shape {s}.");
        if (inLen != s.InLength || outLen != s.OutLength)
            throw new ArgumentException($"nearest resize: input/output have {inLen}/{outLen} elements, expected P·H·W = {s.InLength} and P·Ho·Wo = {s.OutLength} for {s}.");
        if (hi.Length != s.Ho || wi.Length != s.Wo)
            throw new ArgumentException($"nearest resize: source tables have {hi.Length}/{wi.Length} entries, expected Ho = {s.Ho}, Wo = {s.Wo}.");
        foreach (int h in hi) if ((uint)h >= (uint)s.H) throw new ArgumentException($"nearest resize: source row {h} outside 0…{s.H - 1}.");
        foreach (int w in wi) if ((uint)w >= (uint)s.W) throw new ArgumentException($"nearest resize: source column {w} outside 0…{s.W - 1}.");
    }
}
