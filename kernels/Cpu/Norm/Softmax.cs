// Softmax.cs — softmax and log-softmax over the last axis of x (R rows of L), forward and backward.
//   softmax:      y = e^(x − m) / s,      m = max x,  s = Σ e^(x − m)   (m keeps e^(·) ≤ 1: no overflow)
//   log-softmax:  y = x − m − ln s
// Backward (dy → dx), from the saved output y:
//   softmax:      dx = y·(dy − Σ dy·y)
//   log-softmax:  dx = dy − e^y·Σ dy
// A row whose entries are all −∞ gives NaN, as the composed ops and PyTorch do.
//
// Versions, each kept and tested against V0 (tests/Kernels/LayerNormSoftmaxTests.cs); bench in
// bench/Kernels/NormBench.cs (M3's attention rows (64·4·128, 128); K4's (64·4·49, 49)):
//   V0Reference  plain loops in double; the reference
//   V1Fused      three vector passes over a row that stays in L1 (max; e^(x − m) stored into y and
//                summed; scale), two for the backward (one dot product; one FMA pass). eˣ is
//                Ops.VecMath.Exp, inlined. Rows are split into parts fixed by the shape.     (current)
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.LayerNormSoftmax
// Bench: dotnet run -c Release --project bench -- --filter '*NormBench*'
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Denoise.Kernels.Ops;

namespace Denoise.Kernels.Cpu;

public static unsafe class Softmax
{
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int L, bool log) => Forward(NormVersion.V1Fused, x, y, L, log);

    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int L, bool log) =>
        Backward(NormVersion.V1Fused, y, dy, dx, L, log);

    public static void Forward(NormVersion v, ReadOnlySpan<float> x, Span<float> y, int L, bool log)
    {
        int R = Check(log ? "log_softmax" : "softmax", x.Length, y.Length, y.Length, L);
        int parts = Parts(R, L);
        fixed (float* px = x, py = y)
        {
            var job = new Job(v, false, log, px, null, py, R, L, parts);
            if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
        }
    }

    public static void Backward(NormVersion v, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int L, bool log)
    {
        int R = Check(log ? "log_softmax backward" : "softmax backward", y.Length, dy.Length, dx.Length, L);
        int parts = Parts(R, L);
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            var job = new Job(v, true, log, py, pdy, pdx, R, L, parts);
            if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
        }
    }

    // Ranges of rows, ≥ 2^14 elements a part. Shape only.
    static int Parts(int R, int L) => R <= 1 ? 1 : (int)Math.Clamp((long)R * L / (1 << 14), 1, Math.Min(R, 16));

    /// <summary>Forward: a = x, c = y. Backward: a = y, b = dy, c = dx.</summary>
    readonly struct Job(NormVersion v, bool backward, bool log, float* a, float* b, float* c, int R, int L, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (r0, count) = WorkerPool.Range(R, parts, part);
            for (int r = r0; r < r0 + count; r++)
            {
                long o = (long)r * L;
                if (!backward)
                {
                    if (v == NormVersion.V0Reference) V0Forward(a + o, c + o, L, log); else V1Forward(a + o, c + o, L, log);
                }
                else
                {
                    if (v == NormVersion.V0Reference) V0Backward(a + o, b + o, c + o, L, log); else V1Backward(a + o, b + o, c + o, L, log);
                }
            }
        }
    }

    // ───────────────────── V0: plain loops in double ─────────────────────

    static void V0Forward(float* x, float* y, int L, bool log)
    {
        double m = double.NegativeInfinity, s = 0;
        for (int j = 0; j < L; j++) m = Math.Max(m, x[j]);
        if (double.IsNegativeInfinity(m)) m = 0;
        for (int j = 0; j < L; j++) s += Math.Exp(x[j] - m);
        for (int j = 0; j < L; j++) y[j] = (float)(log ? x[j] - m - Math.Log(s) : Math.Exp(x[j] - m) / s);
    }

    static void V0Backward(float* y, float* dy, float* dx, int L, bool log)
    {
        double s = 0;
        for (int j = 0; j < L; j++) s += log ? dy[j] : (double)dy[j] * y[j];
        for (int j = 0; j < L; j++) dx[j] = (float)(log ? dy[j] - Math.Exp(y[j]) * s : y[j] * (dy[j] - s));
    }

    // ───────────────────── V1: fused vector passes ─────────────────────

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Forward(float* x, float* y, int L, bool log)
    {
        // Pass 1: m = max x.
        float m = float.NegativeInfinity;
        int j = 0;
        if (Vector512.IsHardwareAccelerated && L >= 16)
        {
            var acc = Vector512.Create(float.NegativeInfinity);
            for (; j <= L - 16; j += 16) acc = Vector512.Max(acc, Vector512.Load(x + j));
            m = MaxOf(acc);   // Max propagates NaN, as MathF.Max does
        }
        else if (Vector256.IsHardwareAccelerated && L >= 8)
        {
            var acc = Vector256.Create(float.NegativeInfinity);
            for (; j <= L - 8; j += 8) acc = Vector256.Max(acc, Vector256.Load(x + j));
            for (int k = 0; k < 8; k++) m = MathF.Max(m, acc[k]);
        }
        for (; j < L; j++) m = MathF.Max(m, x[j]);
        if (float.IsNegativeInfinity(m)) m = 0f;   // an all −∞ row: e^(x − 0) = 0, s = 0 ⇒ NaN, not ∞ − ∞ here
        // Pass 2: e = e^(x − m), stored into y for softmax; s = Σ e.
        float s = 0;
        j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> mv = Vector512.Create(m), acc = Vector512<float>.Zero;
            for (; j <= L - 16; j += 16)
            {
                var e = VecMath.Exp(Vector512.Load(x + j) - mv);
                if (!log) e.Store(y + j);
                acc += e;
            }
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> mv = Vector256.Create(m), acc = Vector256<float>.Zero;
            for (; j <= L - 8; j += 8)
            {
                var e = VecMath.Exp(Vector256.Load(x + j) - mv);
                if (!log) e.Store(y + j);
                acc += e;
            }
            s = Vector256.Sum(acc);
        }
        for (; j < L; j++)
        {
            float e = MathF.Exp(x[j] - m);
            if (!log) y[j] = e;
            s += e;
        }
        // Pass 3: softmax y = e·(1/s); log-softmax y = x − (m + ln s).
        float k3 = log ? m + MathF.Log(s) : 1f / s;
        j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var kv = Vector512.Create(k3);
            if (log) for (; j <= L - 16; j += 16) (Vector512.Load(x + j) - kv).Store(y + j);
            else for (; j <= L - 16; j += 16) (Vector512.Load(y + j) * kv).Store(y + j);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var kv = Vector256.Create(k3);
            if (log) for (; j <= L - 8; j += 8) (Vector256.Load(x + j) - kv).Store(y + j);
            else for (; j <= L - 8; j += 8) (Vector256.Load(y + j) * kv).Store(y + j);
        }
        for (; j < L; j++) y[j] = log ? x[j] - k3 : y[j] * k3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float MaxOf(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        float m = q[0];
        for (int k = 1; k < 4; k++) m = MathF.Max(m, q[k]);
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void V1Backward(float* y, float* dy, float* dx, int L, bool log)
    {
        // Pass 1: s = Σ dy (log-softmax) or Σ dy·y (softmax).
        float s = 0;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            if (log) for (; j <= L - 16; j += 16) acc += Vector512.Load(dy + j);
            else for (; j <= L - 16; j += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(dy + j), Vector512.Load(y + j), acc);
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            if (log) for (; j <= L - 8; j += 8) acc += Vector256.Load(dy + j);
            else for (; j <= L - 8; j += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(dy + j), Vector256.Load(y + j), acc);
            s = Vector256.Sum(acc);
        }
        for (; j < L; j++) s = log ? s + dy[j] : MathF.FusedMultiplyAdd(dy[j], y[j], s);
        // Pass 2: dx = dy − e^y·s (log-softmax) or y·(dy − s) (softmax).
        j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            if (log) for (; j <= L - 16; j += 16) (Vector512.Load(dy + j) - VecMath.Exp(Vector512.Load(y + j)) * sv).Store(dx + j);
            else for (; j <= L - 16; j += 16) (Vector512.Load(y + j) * (Vector512.Load(dy + j) - sv)).Store(dx + j);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            if (log) for (; j <= L - 8; j += 8) (Vector256.Load(dy + j) - VecMath.Exp(Vector256.Load(y + j)) * sv).Store(dx + j);
            else for (; j <= L - 8; j += 8) (Vector256.Load(y + j) * (Vector256.Load(dy + j) - sv)).Store(dx + j);
        }
        for (; j < L; j++) dx[j] = log ? dy[j] - MathF.Exp(y[j]) * s : y[j] * (dy[j] - s);
    }

    static int Check(string op, int aLen, int bLen, int cLen, int L)
    {
        if (L < 1) throw new ArgumentException($"{op}: row length L must be ≥ 1, got {L}.");
        if (aLen % L != 0 || bLen != aLen || cLen != aLen)
            throw new ArgumentException($"{op}: buffers have {aLen}/{bLen}/{cLen} elements; expected equal multiples of L = {L}.");
        return aLen / L;
    }
}
